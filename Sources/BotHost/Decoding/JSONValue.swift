import Synchronization

/// A value on a ``JSONTape``: a cheap, copyable position used to navigate a parsed
/// document and read its scalars.
///
/// Missing values are represented, not thrown: `value["a"]["b"]` on a document
/// without `a` is a value whose ``exists`` is false, and every reader returns `nil`.
/// This keeps rule code short and never traps on input from the network.
///
/// - Note: Valid only while the tape's document is alive and until the tape's next
///   `parse`. The tape is referenced without retaining it, so a value costs no
///   reference counting on the hot path.
public struct JSONValue {
    /// The tape's tokens and document, as plain pointers: a value holds no reference,
    /// so navigating costs no reference counting.
    @usableFromInline let tape: TapeView
    /// Token index, or -1 when the value is missing.
    @usableFromInline let index: Int

    @inlinable init(tape: TapeView, index: Int) {
        self.tape = tape
        self.index = index
    }

    /// A missing value on the same tape.
    @inlinable var missing: JSONValue { JSONValue(tape: tape, index: -1) }

    /// Whether the value is present in the document.
    @inlinable public var exists: Bool { index >= 0 }

    /// Tokens in the value and everything inside it (0 when missing): a bound on the work
    /// of walking it, for callers that charge for work (WebAssembly plugins' fuel).
    package var tokenSpan: Int { index >= 0 ? Int(tape.tokens[index].next) - index : 0 }

    /// The JSON kind, or `nil` when the value is missing.
    @inlinable public var kind: JSONTape.Kind? { index >= 0 ? tape.tokens[index].kind : nil }

    /// The member named `key` of an object; missing when this is not an object or has no such key.
    ///
    /// When a key occurs twice the first one wins, as in most streaming readers.
    @inlinable public subscript(key: JSONKey) -> JSONValue {
        guard index >= 0, tape.tokens[index].kind == .object else { return JSONValue(tape: tape, index: -1) }
        let end = Int(tape.tokens[index].next)
        var i = index + 1
        while i < end {
            if tape.keyEquals(i, key) { return JSONValue(tape: tape, index: i + 1) }
            i = Int(tape.tokens[i + 1].next)
        }
        return JSONValue(tape: tape, index: -1)
    }

    /// Whether this is a string equal to `text` (after unescaping).
    @inlinable public func stringEquals(_ text: JSONKey) -> Bool {
        guard index >= 0, tape.tokens[index].kind == .string else { return false }
        return tape.keyEquals(index, text)
    }

    /// The string, unescaped; `nil` when this is not a string.
    public var string: String? {
        guard index >= 0, tape.tokens[index].kind == .string else { return nil }
        return tape.decodeString(index)
    }

    /// The raw bytes between the quotes of a string without escapes, for byte-level
    /// comparisons; `nil` when this is not a string or the string has escapes.
    @inlinable public var unescapedBytes: UnsafeRawBufferPointer? {
        guard index >= 0 else { return nil }
        let token = tape.tokens[index]
        guard token.kind == .string, !token.escaped else { return nil }
        return UnsafeRawBufferPointer(start: tape.base + Int(token.start), count: Int(token.end - token.start))
    }

    /// The raw JSON text of the value (for strings: including the quotes).
    public var rawBytes: UnsafeRawBufferPointer? {
        guard index >= 0 else { return nil }
        let token = tape.tokens[index]
        let start = token.kind == .string ? Int(token.start) - 1 : Int(token.start)
        let end = token.kind == .string ? Int(token.end) + 1 : Int(token.end)
        return UnsafeRawBufferPointer(start: tape.base + start, count: end - start)
    }

    /// The value as a 64-bit integer; `nil` for non-integers (fractions, exponents) and on overflow.
    @inlinable public var int64: Int64? {
        guard index >= 0 else { return nil }
        let token = tape.tokens[index]
        guard token.kind == .integer else { return nil }
        var p = Int(token.start)
        let end = Int(token.end)
        let negative = tape.base[p] == UInt8(ascii: "-")
        if negative { p += 1 }
        var value: Int64 = 0
        while p < end {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(tape.base[p] &- UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = a
            p += 1
        }
        return negative ? -value : value
    }

    /// The value as a boolean; `nil` when it is not `true` or `false`.
    @inlinable public var bool: Bool? {
        switch kind {
        case .true?: return true
        case .false?: return false
        default: return nil
        }
    }

    /// The number of elements of an array or members of an object; 0 otherwise.
    public var count: Int {
        var n = 0
        for _ in elements { n += 1 }
        return n
    }

    /// The elements of an array (empty for anything else).
    @inlinable public var elements: Elements { Elements(self) }

    /// Whether this is a string with at least one character that is not Unicode
    /// white space (the spec's "described" test for alt text).
    public var isNonBlankString: Bool {
        guard let bytes = unescapedBytes else {
            guard let text = string else { return false }
            return text.unicodeScalars.contains { !$0.properties.isWhitespace }
        }
        for byte in bytes {
            switch byte {
            case 0x09...0x0D, 0x20: continue
            case 0x80...: // non-ASCII: decide with the Unicode tables
                let text = String(decoding: bytes, as: UTF8.self)
                return text.unicodeScalars.contains { !$0.properties.isWhitespace }
            default: return true
            }
        }
        return false
    }

    /// Iterates the elements of an array by walking the tape's skip links.
    public struct Elements: Sequence, IteratorProtocol {
        @usableFromInline let tape: TapeView
        @usableFromInline var position: Int
        @usableFromInline let end: Int

        @inlinable init(_ value: JSONValue) {
            tape = value.tape
            if value.index >= 0 && value.tape.tokens[value.index].kind == .array {
                position = value.index + 1
                end = Int(value.tape.tokens[value.index].next)
            } else {
                position = 0
                end = 0
            }
        }

        @inlinable public mutating func next() -> JSONValue? {
            guard position < end else { return nil }
            let value = JSONValue(tape: tape, index: position)
            position = Int(tape.tokens[position].next)
            return value
        }
    }
}

/// A key or constant string prepared once for byte comparison against the tape.
///
/// Its bytes live in a process-wide, deduplicated arena, so comparing against a key
/// costs no reference counting. Create keys once (static lets, plugin properties),
/// not per event: each distinct text is kept for the life of the process.
public struct JSONKey: @unchecked Sendable, ExpressibleByStringLiteral, Hashable {
    @usableFromInline let start: UnsafePointer<UInt8>
    /// Number of UTF-8 bytes.
    public let count: Int

    public init(_ text: String) {
        (start, count) = JSONKeyArena.intern(text)
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// The UTF-8 bytes of the key.
    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: start, count: count) }

    /// The key's text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public static func == (a: JSONKey, b: JSONKey) -> Bool { a.start == b.start }
    public func hash(into hasher: inout Hasher) { hasher.combine(start) }
}

/// Owns the bytes of every ``JSONKey``; equal texts share one allocation, so key
/// equality is pointer equality.
enum JSONKeyArena {
    private static let table = Mutex<[String: UnsafeMutablePointer<UInt8>]>([:])

    static func intern(_ text: String) -> (UnsafePointer<UInt8>, Int) {
        let utf8 = Array(text.utf8)
        let pointer = table.withLock { table in
            if let existing = table[text] { return existing }
            let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, utf8.count))
            pointer.initialize(from: utf8, count: utf8.count)
            table[text] = pointer
            return pointer
        }
        return (UnsafePointer(pointer), utf8.count)
    }
}

/// The pointers a ``JSONValue`` reads through: the tape's tokens and the document's
/// bytes, valid until the tape parses another document.
@usableFromInline
struct TapeView {
    @usableFromInline let tokens: UnsafeMutablePointer<JSONTape.Token>
    @usableFromInline let base: UnsafePointer<UInt8>

    @inlinable init(tokens: UnsafeMutablePointer<JSONTape.Token>, base: UnsafePointer<UInt8>) {
        self.tokens = tokens
        self.base = base
    }

    /// Compares the string token at `index` with `key`, unescaping when needed.
    @inlinable func keyEquals(_ index: Int, _ key: JSONKey) -> Bool {
        let token = tokens[index]
        if token.escaped { return decodeString(index).utf8.elementsEqual(key.bytes) }
        let n = Int(token.end - token.start)
        guard n == key.count else { return false }
        return memcmpBytes(base + Int(token.start), key.start, n)
    }

    @inlinable func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// Decodes a string token, resolving escapes and UTF-16 surrogate pairs.
    ///
    /// A lone surrogate (`\ud800` without its pair) becomes U+FFFD rather than an error:
    /// the document was valid JSON, and the text stays readable.
    @usableFromInline func decodeString(_ index: Int) -> String {
        let token = tokens[index]
        let start = Int(token.start)
        let end = Int(token.end)
        if !token.escaped {
            return String(decoding: UnsafeBufferPointer(start: base + start, count: end - start), as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(end - start)
        var p = start
        while p < end {
            let c = base[p]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                p += 1
                continue
            }
            let e = base[p + 1]
            p += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(p)
                p += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate: combine with the following low surrogate if there is one.
                    if p + 6 <= end && base[p] == UInt8(ascii: "\\") && base[p + 1] == UInt8(ascii: "u") {
                        let low = hex4(p + 2)
                        if low >= 0xDC00 && low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            p += 6
                        } else {
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                appendUTF8(scalar, to: &out)
            default: out.append(e)  // \" \\ \/
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func hex4(_ p: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v = (v << 4) | (JSONTape.hexValue(base[p + i]) ?? 0) }
        return v
    }

    private func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (scalar >> 6)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (scalar >> 12)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (scalar >> 18)))
            out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}
