/// Interns byte strings (DIDs, collection NSIDs, non-TID record keys) to dense
/// integer ids, looked up straight from the decoder's bytes.
///
/// Strings live once in a byte arena; the index is open addressing over 32-bit ids.
/// A lookup hashes and compares bytes and allocates nothing, so the hot path can
/// resolve a DID per event for free.
public struct InternTable {
    private var arena: [UInt8] = []
    /// Start of each string in the arena; `offsets[id + 1]` is its end.
    private var offsets: [Int] = [0]
    /// Slot → id + 1 (0 = empty).
    private var slots: [UInt32]
    private var mask: Int

    public init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [UInt32](repeating: 0, count: size)
        mask = size - 1
    }

    /// The number of interned strings.
    public var count: Int { offsets.count - 1 }

    /// The id of `bytes`, if interned.
    @inline(__always)
    public func find(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var slot = Int(truncatingIfNeeded: Self.hash(bytes)) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return nil }
            let id = Int(entry) - 1
            if equals(id, bytes) { return id }
            slot = (slot + 1) & mask
        }
    }

    /// The id of `bytes`, interning it first when new.
    @inline(__always)
    public mutating func intern(_ bytes: UnsafeRawBufferPointer) -> (id: Int, isNew: Bool) {
        var slot = Int(truncatingIfNeeded: Self.hash(bytes)) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { break }
            let id = Int(entry) - 1
            if equals(id, bytes) { return (id, false) }
            slot = (slot + 1) & mask
        }
        let id = count
        arena.append(contentsOf: bytes)
        offsets.append(arena.count)
        slots[slot] = UInt32(id + 1)
        if count * 2 > slots.count { rehash() }
        return (id, true)
    }

    /// Interns a Swift string.
    public mutating func intern(_ text: String) -> Int {
        var text = text
        return text.withUTF8 { intern(UnsafeRawBufferPointer($0)).id }
    }

    /// Finds a Swift string.
    public func find(_ text: String) -> Int? {
        var text = text
        return text.withUTF8 { find(UnsafeRawBufferPointer($0)) }
    }

    /// The string with id `id`.
    public func string(_ id: Int) -> String {
        arena.withUnsafeBufferPointer { a in
            String(decoding: UnsafeBufferPointer(rebasing: a[offsets[id]..<offsets[id + 1]]), as: UTF8.self)
        }
    }

    @inline(__always)
    private func equals(_ id: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let start = offsets[id]
        let length = offsets[id + 1] - start
        guard length == bytes.count else { return false }
        return arena.withUnsafeBufferPointer { a in
            memcmp(a.baseAddress! + start, bytes.baseAddress!, length) == 0
        }
    }

    private mutating func rehash() {
        let size = slots.count * 2
        slots = [UInt32](repeating: 0, count: size)
        mask = size - 1
        arena.withUnsafeBytes { a in
            for id in 0..<count {
                let bytes = UnsafeRawBufferPointer(rebasing: a[offsets[id]..<offsets[id + 1]])
                var slot = Int(truncatingIfNeeded: Self.hash(bytes)) & mask
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = UInt32(id + 1)
            }
        }
    }

    /// FNV-1a over 8-byte words, finished with a multiply-xorshift: fast on short keys
    /// such as DIDs and good enough for linear probing.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            i += 8
        }
        while i < n {
            h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01B3
            i += 1
        }
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
