/// Builds compact JSON text for exports, payloads and `--format json` output,
/// escaping strings exactly as JSON requires.
public final class JSONWriter {
    /// The text written so far.
    public private(set) var output = ""
    private var needsComma = false

    public init() {}

    /// Writes `{ … }` around the fields `body` writes.
    public func object(_ body: () -> Void) {
        separate()
        output += "{"
        needsComma = false
        body()
        output += "}"
        needsComma = true
    }

    /// Writes `"key":` then an array of the values `body` writes.
    public func array(_ key: String? = nil, _ body: () -> Void) {
        separate()
        if let key { output += Self.quoted(key) + ":" }
        output += "["
        needsComma = false
        body()
        output += "]"
        needsComma = true
    }

    /// Writes `"key":"value"` (`null` for nil).
    public func field(_ key: String, _ value: String?) {
        separate()
        output += Self.quoted(key) + ":" + (value.map(Self.quoted) ?? "null")
        needsComma = true
    }

    /// Writes `"key":number`, or `"key":null`.
    public func field(_ key: String, _ value: Int?) {
        separate()
        output += Self.quoted(key) + ":" + (value.map { String($0) } ?? "null")
        needsComma = true
    }

    /// Writes `"key":number`.
    public func field(_ key: String, _ value: some BinaryInteger) {
        separate()
        output += Self.quoted(key) + ":" + String(value)
        needsComma = true
    }

    /// Writes `"key":number` for a floating-point value.
    public func field(_ key: String, _ value: Double) {
        separate()
        output += Self.quoted(key) + ":" + (value.isFinite ? String(value) : "null")
        needsComma = true
    }

    /// Writes `"key":true|false`.
    public func field(_ key: String, _ value: Bool) {
        separate()
        output += Self.quoted(key) + ":" + (value ? "true" : "false")
        needsComma = true
    }

    /// Writes a bare array element.
    public func element(_ value: some BinaryInteger) {
        separate()
        output += String(value)
        needsComma = true
    }

    /// Writes a bare string array element.
    public func element(_ value: String) {
        separate()
        output += Self.quoted(value)
        needsComma = true
    }

    /// Starts an object member whose value the next call writes.
    public func key(_ key: String) {
        separate()
        output += Self.quoted(key) + ":"
        needsComma = false
    }

    /// Writes `"key":json` with `json` already encoded (e.g. read back from the store).
    public func raw(_ key: String, _ json: String) {
        separate()
        output += Self.quoted(key) + ":" + json
        needsComma = true
    }

    private func separate() {
        if needsComma { output += "," }
    }

    /// `text` as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
