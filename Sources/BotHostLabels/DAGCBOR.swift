/// The DAG-CBOR subset labels use (atproto data model): maps with text keys in canonical
/// order (shorter keys first, then bytewise), text, integers, booleans, byte strings and
/// arrays; every length in its shortest form. Enough to produce the exact bytes a label's
/// signature covers; not a general CBOR library.
public indirect enum DAGCBOR: Sendable, Equatable {
    case int(Int64)
    case text(String)
    case bytes([UInt8])
    case bool(Bool)
    case array([DAGCBOR])
    case map([(String, DAGCBOR)])

    public static func == (a: DAGCBOR, b: DAGCBOR) -> Bool { a.encoded() == b.encoded() }

    /// The canonical encoding.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    private func encode(into out: inout [UInt8]) {
        switch self {
        case .int(let value):
            if value >= 0 { Self.head(0, UInt64(value), &out) } else { Self.head(1, UInt64(-(value + 1)), &out) }
        case .text(let text):
            let bytes = Array(text.utf8)
            Self.head(3, UInt64(bytes.count), &out)
            out += bytes
        case .bytes(let bytes):
            Self.head(2, UInt64(bytes.count), &out)
            out += bytes
        case .bool(let value):
            out.append(value ? 0xF5 : 0xF4)
        case .array(let items):
            Self.head(4, UInt64(items.count), &out)
            for item in items { item.encode(into: &out) }
        case .map(let entries):
            // Canonical order: by the encoded key's length, then bytewise (RFC 7049 §3.9,
            // as DAG-CBOR requires); keys are unique.
            let sorted = entries.sorted { a, b in
                let x = Array(a.0.utf8), y = Array(b.0.utf8)
                return x.count != y.count ? x.count < y.count : x.lexicographicallyPrecedes(y)
            }
            Self.head(5, UInt64(sorted.count), &out)
            for (key, value) in sorted {
                DAGCBOR.text(key).encode(into: &out)
                value.encode(into: &out)
            }
        }
    }

    private static func head(_ major: UInt8, _ value: UInt64, _ out: inout [UInt8]) {
        let m = major << 5
        switch value {
        case 0..<24: out.append(m | UInt8(value))
        case 24..<0x100: out += [m | 24, UInt8(value)]
        case 0x100..<0x1_0000: out += [m | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
        case 0x1_0000..<0x1_0000_0000: out += [m | 26] + (0..<4).reversed().map { UInt8((value >> (8 * UInt64($0))) & 0xFF) }
        default: out += [m | 27] + (0..<8).reversed().map { UInt8((value >> (8 * UInt64($0))) & 0xFF) }
        }
    }
}
