/// A timestamp identifier: the 13-character, base32-sortable record key and
/// revision format of AT Protocol repositories.
///
/// A TID encodes a 64-bit integer whose top bit is zero (53 bits of
/// microseconds since the epoch, 10 bits of clock id). Because the alphabet is
/// sorted, comparing two TIDs as strings and as integers agrees, which lets the
/// host keep record keys and revisions as `UInt64` instead of strings.
public struct TID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 63-bit integer the 13 characters encode.
    public let rawValue: UInt64

    /// The sortable base32 alphabet, in value order.
    @usableFromInline static let alphabet: [UInt8] = Array("234567abcdefghijklmnopqrstuvwxyz".utf8)

    /// Maps an ASCII byte to its 5-bit value, or 0xFF when it is not in the alphabet.
    @usableFromInline static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// Creates a TID from its integer value; the top bit must be clear.
    public init?(rawValue: UInt64) {
        guard rawValue >> 63 == 0 else { return nil }
        self.rawValue = rawValue
    }

    /// Creates a TID from its microsecond timestamp and clock id (0…1023).
    public init(microseconds: UInt64, clockID: UInt16) {
        self.rawValue = ((microseconds & ((1 << 53) - 1)) << 10) | UInt64(clockID & 0x3FF)
    }

    /// Parses the canonical 13-character form below 2^63; `nil` for anything else.
    ///
    /// Only the canonical form is accepted, so `TID(string)?.description == string`
    /// always holds: a key that parses can be stored as an integer and restored exactly.
    public init?(_ string: some StringProtocol) {
        var utf8 = Array(string.utf8)
        guard let value = utf8.withUnsafeMutableBufferPointer({ TID.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self.rawValue = value
    }

    /// Parses 13 bytes of canonical TID text into its integer value.
    ///
    /// - Returns: `nil` when the bytes are not exactly 13 alphabet characters or the
    ///   first character would set the top bit.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count == 13 else { return nil }
        var value: UInt64 = 0
        for index in 0..<13 {
            let digit = decodeTable[Int(bytes[index])]
            if digit == 0xFF { return nil }
            value = (value << 5) | UInt64(digit)
        }
        // 13 characters hold 65 bits. The syntax allows a first character up to 'j'
        // (bit 63 set); real TIDs start with '2'…'b', so only values below 2^63 are
        // accepted: they fit SQLite's signed INTEGER, and the host keeps bit 63 free
        // to tag keys that are not TIDs.
        guard decodeTable[Int(bytes[0])] < 8 else { return nil }
        return value
    }

    /// The microseconds since the Unix epoch that the TID carries.
    public var microseconds: UInt64 { rawValue >> 10 }

    /// The canonical 13-character text.
    public var description: String {
        var bytes = [UInt8](repeating: 0, count: 13)
        var value = rawValue
        for index in stride(from: 12, through: 0, by: -1) {
            bytes[index] = TID.alphabet[Int(value & 31)]
            value >>= 5
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func < (lhs: TID, rhs: TID) -> Bool { lhs.rawValue < rhs.rawValue }
}
