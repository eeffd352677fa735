/// The atproto handle syntax (https://atproto.com/specs/handle): what an identity event's
/// handle must be before the host stores it, shows it on a page or writes it into a post.
/// Anyone can put any text in their identity; only a syntactically valid handle passes.
public enum Handle {
    /// The normalized (lowercase) handle, or nil when `text` is not a valid handle or is
    /// the `handle.invalid` placeholder.
    public static func normalized(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 3, bytes.count <= 253 else { return nil }
        var labels = 0
        var labelStart = 0
        var lastLabelFirst: UInt8 = 0
        for index in 0...bytes.count {
            let byte = index < bytes.count ? bytes[index] : UInt8(ascii: ".")
            if byte == UInt8(ascii: ".") {
                let length = index - labelStart
                guard length >= 1, length <= 63 else { return nil }
                guard bytes[labelStart] != UInt8(ascii: "-"), bytes[index - 1] != UInt8(ascii: "-") else { return nil }
                lastLabelFirst = bytes[labelStart]
                labels += 1
                labelStart = index + 1
                continue
            }
            let isAlnum = (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
            guard isAlnum || byte == UInt8(ascii: "-") else { return nil }
        }
        // At least two labels, and the top-level domain starts with a letter.
        guard labels >= 2, lastLabelFirst | 0x20 >= 0x61, lastLabelFirst | 0x20 <= 0x7A else { return nil }
        let lower = text.lowercased()
        return lower == "handle.invalid" ? nil : lower
    }
}
