/// Text from the network made safe for one log line: control characters escaped and
/// the length capped, so a hostile value cannot forge log lines or flood the log.
public enum LogText {
    public static func safe(_ text: String, limit: Int = 200) -> String {
        var out = ""
        out.reserveCapacity(min(text.utf8.count, limit) + 8)
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit { out += "…"; break }
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
