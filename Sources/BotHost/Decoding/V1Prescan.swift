/// The two leading fields of a v1 Jetstream event (`{"did":"…","time_us":…`), read
/// without decoding the rest: what a partitioned host needs of another partition's
/// event to drop it (its owner decodes it) while still seeing stream time pass.
///
/// Jetstream writes `did` first and `time_us` second in every event. A line laid out any
/// other way (whitespace, escapes, another order) is not prescanned: it takes the full
/// decode path, which is always correct, only slower.
struct V1Prescan {
    /// Byte range of the DID's text inside the line.
    var did: Range<Int>
    var timeUS: Int64
    /// Whether the event is a commit (`"kind":"commit"` right after `time_us`); nil when
    /// the kind is not there.
    var isCommit: Bool?
    /// Where the fields read end.
    var end: Int

    private static let head = Array(#"{"did":""#.utf8)
    private static let time = Array(#","time_us":"#.utf8)

    @inline(__always)
    static func scan(_ bytes: UnsafeRawBufferPointer) -> V1Prescan? {
        let count = bytes.count
        guard count > head.count + time.count + 2 else { return nil }
        for index in 0..<head.count where bytes[index] != head[index] { return nil }
        var end = head.count
        while end < count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            end += 1
        }
        // The DID's closing quote, then `,"time_us":`.
        guard end > head.count, end + 1 + time.count < count else { return nil }
        for index in 0..<time.count where bytes[end + 1 + index] != time[index] { return nil }
        var position = end + 1 + time.count
        var value: Int64 = 0
        let first = position
        while position < count, position - first < 18 {
            let digit = bytes[position] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            value = value * 10 + Int64(digit)
            position += 1
        }
        guard position > first, position < count, bytes[position] == UInt8(ascii: ",") || bytes[position] == UInt8(ascii: "}") else {
            return nil
        }
        var isCommit: Bool?
        if position + kind.count + 7 < count, bytes[position] == UInt8(ascii: ",") {
            var same = true
            for index in 0..<kind.count where bytes[position + 1 + index] != kind[index] {
                same = false
                break
            }
            if same {
                let start = position + 1 + kind.count
                isCommit = bytes[start] == UInt8(ascii: "c") && bytes[start + 1] == UInt8(ascii: "o") && bytes[start + 2] == UInt8(ascii: "m")
                    && bytes[start + 3] == UInt8(ascii: "m") && bytes[start + 4] == UInt8(ascii: "i") && bytes[start + 5] == UInt8(ascii: "t")
                    && bytes[start + 6] == UInt8(ascii: "\"")
                position = start
            }
        }
        return V1Prescan(did: head.count..<end, timeUS: value, isCommit: isCommit, end: position)
    }

    private static let kind = Array(#""kind":""#.utf8)
    private static let collectionKey = Array(#""collection""#.utf8)

    /// The value of the first `"collection"` key from `start` on (the commit's: Jetstream
    /// writes it before the record), without escapes; nil when there is none.
    static func collectionValue(in bytes: UnsafeRawBufferPointer, from start: Int) -> Range<Int>? {
        let key = collectionKey
        let count = bytes.count
        var index = start
        while index + key.count < count {
            guard bytes[index] == UInt8(ascii: "\""), bytes[index + 1] == UInt8(ascii: "c") else {
                index += 1
                continue
            }
            var matches = true
            for offset in 2..<key.count where bytes[index + offset] != key[offset] {
                matches = false
                break
            }
            guard matches else {
                index += 1
                continue
            }
            var position = index + key.count
            while position < count, isSpace(bytes[position]) { position += 1 }
            guard position < count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            while position < count, isSpace(bytes[position]) { position += 1 }
            guard position < count, bytes[position] == UInt8(ascii: "\"") else { return nil }
            let first = position + 1
            var last = first
            while last < count {
                let byte = bytes[last]
                if byte == UInt8(ascii: "\"") { return first..<last }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                last += 1
            }
            return nil
        }
        return nil
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
