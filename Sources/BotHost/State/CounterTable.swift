/// Counter increments of one batch, keyed (bucket, account, counter): open addressing
/// over flat arrays, cleared by walking the used slots, so counting an event costs a
/// hash probe and no allocation (a Swift `Dictionary` here cost ~10 % of the event path).
struct CounterTable {
    struct Key: Hashable, Comparable {
        var bucket: Int64
        var account: UInt32
        var counter: UInt16
        static func < (a: Key, b: Key) -> Bool { (a.bucket, a.account, a.counter) < (b.bucket, b.account, b.counter) }
    }

    private var keys: [Key]
    private var values: [Int64]
    private var used: [Bool]
    private var usedSlots: [Int] = []
    private var mask: Int

    init(capacity: Int = 1 << 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [Key](repeating: Key(bucket: 0, account: 0, counter: 0), count: size)
        values = [Int64](repeating: 0, count: size)
        used = [Bool](repeating: false, count: size)
        mask = size - 1
    }

    var count: Int { usedSlots.count }
    var isEmpty: Bool { usedSlots.isEmpty }

    @inline(__always)
    private static func hash(_ key: Key) -> Int {
        var h = UInt64(bitPattern: key.bucket) &* 0x9E37_79B9_7F4A_7C15
        h ^= (UInt64(key.account) << 16 | UInt64(key.counter)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }

    @inline(__always)
    mutating func add(_ key: Key, _ amount: Int64) {
        var i = Self.hash(key) & mask
        while used[i] {
            if keys[i] == key {
                values[i] += amount
                return
            }
            i = (i + 1) & mask
        }
        used[i] = true
        keys[i] = key
        values[i] = amount
        usedSlots.append(i)
        if usedSlots.count * 2 > used.count { grow() }
    }

    /// Every entry in key order; empties the table.
    mutating func drain() -> [(key: Key, value: Int64)] {
        var entries = usedSlots.map { (key: keys[$0], value: values[$0]) }
        for slot in usedSlots { used[slot] = false }
        usedSlots.removeAll(keepingCapacity: true)
        entries.sort { $0.key < $1.key }
        return entries
    }

    private mutating func grow() {
        let entries = usedSlots.map { (keys[$0], values[$0]) }
        self = CounterTable(capacity: used.count)
        for (key, value) in entries { add(key, value) }
    }
}
