/// A validating JSON tokenizer that records every value of one document on a flat,
/// reusable tape, so fields can be looked up afterwards without building objects.
///
/// One `parse` validates the whole document (structure, strings, escapes, numbers,
/// literals) in a single pass over the bytes; lookups then walk the tape by index.
/// Nothing is allocated per document once the tape has grown to the largest one seen.
/// Invalid UTF-8 inside strings is not rejected: it is replaced with U+FFFD when a
/// string is read, which is what a reader of the field would see anyway.
///
/// - Note: A tape borrows the bytes it parsed. Every accessor is valid only while
///   those bytes are alive and until the next `parse`. One tape belongs to one thread.
public final class JSONTape {
    /// The kinds of token on the tape.
    public enum Kind: UInt8, Sendable {
        case object, array, string, integer, number, `true`, `false`, null
    }

    @usableFromInline struct Token {
        @usableFromInline var kind: Kind
        /// Set on strings that contain a backslash escape.
        @usableFromInline var escaped: Bool
        /// Strings: first byte after the opening quote. Others: first byte.
        @usableFromInline var start: UInt32
        /// Strings: offset of the closing quote. Others: one past the last byte.
        @usableFromInline var end: UInt32
        /// Index of the token after this value and everything inside it.
        @usableFromInline var next: UInt32
    }

    @usableFromInline var tokens: UnsafeMutablePointer<Token>
    @usableFromInline var capacity: Int
    @usableFromInline var count: Int = 0
    @usableFromInline var base: UnsafePointer<UInt8>
    @usableFromInline var length: Int = 0
    /// Container token indices of the open objects and arrays.
    private var stack: UnsafeMutablePointer<Int32>
    /// Containers nested deeper than this are refused: they do not occur in real
    /// records and would let a hostile line make the tokenizer do unbounded work.
    public static let maxDepth = 512

    /// Creates an empty tape.
    public init(initialCapacity: Int = 256) {
        capacity = max(16, initialCapacity)
        tokens = .allocate(capacity: capacity)
        stack = .allocate(capacity: JSONTape.maxDepth)
        base = UnsafePointer(bitPattern: 1)!
    }

    deinit {
        tokens.deallocate()
        stack.deallocate()
    }

    /// The root value of the last parsed document.
    @inlinable public var root: JSONValue { JSONValue(tape: view, index: count > 0 ? 0 : -1) }

    /// Pointers to the current tokens and document, for values.
    @inlinable var view: TapeView { TapeView(tokens: tokens, base: base) }

    /// Tokenizes and validates one JSON document.
    ///
    /// - Throws: `JSONSyntaxError` naming the first problem and its byte offset.
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) {
        count = 0
        length = bytes.count
        guard let start = bytes.baseAddress, bytes.count > 0 else {
            throw JSONSyntaxError(.empty, at: 0)
        }
        base = start.assumingMemoryBound(to: UInt8.self)
        guard bytes.count < Int(UInt32.max) else { throw JSONSyntaxError(.tooLarge, at: 0) }
        try run()
    }

    // MARK: - Tokenizer

    private enum State { case value, key, afterValue }

    @inline(__always)
    private func push(_ kind: Kind, _ start: Int, _ end: Int, escaped: Bool = false) -> Int {
        if count == capacity { grow() }
        tokens[count] = Token(kind: kind, escaped: escaped, start: UInt32(truncatingIfNeeded: start),
                              end: UInt32(truncatingIfNeeded: end), next: UInt32(truncatingIfNeeded: count + 1))
        count += 1
        return count - 1
    }

    private func grow() {
        let newCapacity = capacity * 2
        let newTokens = UnsafeMutablePointer<Token>.allocate(capacity: newCapacity)
        newTokens.moveInitialize(from: tokens, count: count)
        tokens.deallocate()
        tokens = newTokens
        capacity = newCapacity
    }

    @inline(__always)
    private func skipSpace(_ p: Int) -> Int {
        var p = p
        while p < length {
            let c = base[p]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { break }
            p += 1
        }
        return p
    }

    private func run() throws(JSONSyntaxError) {
        var depth = 0
        var p = skipSpace(0)
        var state = State.value
        while true {
            switch state {
            case .value:
                guard p < length else { throw JSONSyntaxError(.truncated, at: p) }
                switch base[p] {
                case UInt8(ascii: "{"):
                    guard depth < JSONTape.maxDepth else { throw JSONSyntaxError(.tooDeep, at: p) }
                    stack[depth] = Int32(push(.object, p, p))
                    depth += 1
                    p = skipSpace(p + 1)
                    if p < length && base[p] == UInt8(ascii: "}") {
                        depth -= 1
                        close(Int(stack[depth]), at: p)
                        p += 1
                        state = .afterValue
                    } else {
                        state = .key
                    }
                case UInt8(ascii: "["):
                    guard depth < JSONTape.maxDepth else { throw JSONSyntaxError(.tooDeep, at: p) }
                    stack[depth] = Int32(push(.array, p, p))
                    depth += 1
                    p = skipSpace(p + 1)
                    if p < length && base[p] == UInt8(ascii: "]") {
                        depth -= 1
                        close(Int(stack[depth]), at: p)
                        p += 1
                        state = .afterValue
                    } else {
                        state = .value
                    }
                case UInt8(ascii: "\""):
                    p = try scanString(p)
                    state = .afterValue
                case UInt8(ascii: "t"):
                    p = try literal(p, "true", .true)
                    state = .afterValue
                case UInt8(ascii: "f"):
                    p = try literal(p, "false", .false)
                    state = .afterValue
                case UInt8(ascii: "n"):
                    p = try literal(p, "null", .null)
                    state = .afterValue
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    p = try scanNumber(p)
                    state = .afterValue
                default:
                    throw JSONSyntaxError(.unexpectedByte, at: p)
                }
            case .key:
                guard p < length else { throw JSONSyntaxError(.truncated, at: p) }
                guard base[p] == UInt8(ascii: "\"") else { throw JSONSyntaxError(.expectedKey, at: p) }
                p = skipSpace(try scanString(p))
                guard p < length else { throw JSONSyntaxError(.truncated, at: p) }
                guard base[p] == UInt8(ascii: ":") else { throw JSONSyntaxError(.expectedColon, at: p) }
                p = skipSpace(p + 1)
                state = .value
            case .afterValue:
                p = skipSpace(p)
                if depth == 0 {
                    guard p == length else { throw JSONSyntaxError(.trailingData, at: p) }
                    return
                }
                guard p < length else { throw JSONSyntaxError(.truncated, at: p) }
                let container = Int(stack[depth - 1])
                let c = base[p]
                if tokens[container].kind == .object {
                    if c == UInt8(ascii: ",") {
                        p = skipSpace(p + 1)
                        state = .key
                    } else if c == UInt8(ascii: "}") {
                        depth -= 1
                        close(container, at: p)
                        p += 1
                    } else {
                        throw JSONSyntaxError(.expectedCommaOrEnd, at: p)
                    }
                } else {
                    if c == UInt8(ascii: ",") {
                        p = skipSpace(p + 1)
                        state = .value
                    } else if c == UInt8(ascii: "]") {
                        depth -= 1
                        close(container, at: p)
                        p += 1
                    } else {
                        throw JSONSyntaxError(.expectedCommaOrEnd, at: p)
                    }
                }
            }
        }
    }

    @inline(__always)
    private func close(_ container: Int, at p: Int) {
        tokens[container].end = UInt32(truncatingIfNeeded: p + 1)
        tokens[container].next = UInt32(truncatingIfNeeded: count)
    }

    private func literal(_ p: Int, _ word: StaticString, _ kind: Kind) throws(JSONSyntaxError) -> Int {
        let n = word.utf8CodeUnitCount
        guard p + n <= length else { throw JSONSyntaxError(.truncated, at: p) }
        let w = word.utf8Start
        for i in 0..<n where base[p + i] != w[i] { throw JSONSyntaxError(.badLiteral, at: p) }
        _ = push(kind, p, p + n)
        return p + n
    }

    private func scanNumber(_ start: Int) throws(JSONSyntaxError) -> Int {
        var p = start
        var integer = true
        if base[p] == UInt8(ascii: "-") { p += 1 }
        guard p < length else { throw JSONSyntaxError(.truncated, at: p) }
        if base[p] == UInt8(ascii: "0") {
            p += 1
        } else if base[p] >= UInt8(ascii: "1") && base[p] <= UInt8(ascii: "9") {
            while p < length && base[p] &- UInt8(ascii: "0") < 10 { p += 1 }
        } else {
            throw JSONSyntaxError(.badNumber, at: p)
        }
        if p < length && base[p] == UInt8(ascii: ".") {
            integer = false
            p += 1
            let digits = p
            while p < length && base[p] &- UInt8(ascii: "0") < 10 { p += 1 }
            guard p > digits else { throw JSONSyntaxError(p == length ? .truncated : .badNumber, at: p) }
        }
        if p < length && (base[p] | 0x20) == UInt8(ascii: "e") {
            integer = false
            p += 1
            if p < length && (base[p] == UInt8(ascii: "+") || base[p] == UInt8(ascii: "-")) { p += 1 }
            let digits = p
            while p < length && base[p] &- UInt8(ascii: "0") < 10 { p += 1 }
            guard p > digits else { throw JSONSyntaxError(p == length ? .truncated : .badNumber, at: p) }
        }
        _ = push(integer ? .integer : .number, start, p)
        return p
    }

    /// Scans a string starting at its opening quote; returns the offset after the closing quote.
    private func scanString(_ open: Int) throws(JSONSyntaxError) -> Int {
        var q = open + 1
        var escaped = false
        let raw = UnsafeRawPointer(base)
        while true {
            // Eight bytes at a time until one of them is a quote, a backslash or a
            // control character (the SWAR "has zero byte" and "has byte less than" tests).
            while q + 8 <= length {
                let w = raw.loadUnaligned(fromByteOffset: q, as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let high: UInt64 = 0x8080_8080_8080_8080
                let quote = w ^ (ones &* 0x22)
                let slash = w ^ (ones &* 0x5C)
                let special = ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash) | ((w &- ones &* 0x20) & ~w)
                if special & high != 0 { break }
                q += 8
            }
            while q < length {
                let c = base[q]
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { break }
                q += 1
            }
            guard q < length else { throw JSONSyntaxError(.truncated, at: q) }
            let c = base[q]
            if c == UInt8(ascii: "\"") {
                _ = push(.string, open + 1, q, escaped: escaped)
                return q + 1
            }
            if c < 0x20 { throw JSONSyntaxError(.controlCharacter, at: q) }
            // A backslash escape.
            escaped = true
            guard q + 1 < length else { throw JSONSyntaxError(.truncated, at: q) }
            switch base[q + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                 UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                q += 2
            case UInt8(ascii: "u"):
                guard q + 6 <= length else { throw JSONSyntaxError(.truncated, at: q) }
                for i in 2..<6 where JSONTape.hexValue(base[q + i]) == nil {
                    throw JSONSyntaxError(.badEscape, at: q)
                }
                q += 6
            default:
                throw JSONSyntaxError(.badEscape, at: q)
            }
        }
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

/// Why a document is not valid JSON, and where.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of syntax problem.
    public enum Reason: String, Sendable {
        case empty = "empty input"
        case truncated = "unexpected end of input"
        case unexpectedByte = "unexpected character"
        case expectedKey = "expected a string key"
        case expectedColon = "expected ':'"
        case expectedCommaOrEnd = "expected ',' or the end of the container"
        case trailingData = "data after the JSON value"
        case controlCharacter = "unescaped control character in a string"
        case badEscape = "invalid escape sequence"
        case badNumber = "invalid number"
        case badLiteral = "invalid literal"
        case tooDeep = "nesting deeper than 512"
        case tooLarge = "document larger than 4 GiB"
    }

    /// What is wrong.
    public var reason: Reason
    /// Byte offset of the problem in the document.
    public var offset: Int

    init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "\(reason.rawValue) at byte \(offset)" }
}
