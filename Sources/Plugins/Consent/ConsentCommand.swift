import BotHost

/// The command a post addressed to the bot carries (leveling spec, "Consent"): the text,
/// with the bot's mentions taken out, must *begin* with the command's words, whole words,
/// case-insensitive, any whitespace between them. "I'd never opt in" is no command, nor is
/// "opt inside" or "opt-in": an account's consent is widened only by what it plainly said.
public enum ConsentCommand: Equatable, Sendable {
    case set(Consent)
    case status
    /// `no rank` (false) leaves the leaderboards, `rank me` (true) rejoins them.
    case ranked(Bool)

    /// The commands and their words, longest first where one could begin another.
    static let table: [([String], ConsentCommand)] = [
        (["opt", "in"], .set(.optedIn)),
        (["opt", "out"], .set(.optedOut)),
        (["no", "ping"], .set(.noPing)),
        (["no", "rank"], .ranked(false)),
        (["rank", "me"], .ranked(true)),
        (["status"], .status),
    ]

    /// Parses a post's text.
    /// - Parameters:
    ///   - text: the post's text, as UTF-8 bytes.
    ///   - mentions: byte ranges of the bot's mentions (facet indexes) to take out. A range
    ///     outside the text, or reversed, makes the post no command: where the mention is
    ///     cannot be told, and consent is never guessed.
    public static func parse(_ text: [UInt8], removing mentions: [(start: Int, end: Int)]) -> ConsentCommand? {
        var kept = [UInt8]()
        kept.reserveCapacity(text.count)
        var cursor = 0
        for range in mentions.sorted(by: { $0.start < $1.start }) {
            guard range.start >= 0, range.end <= text.count, range.start < range.end else { return nil }
            if range.start > cursor { kept.append(contentsOf: text[cursor..<range.start]) }
            cursor = max(cursor, range.end)
        }
        if cursor < text.count { kept.append(contentsOf: text[cursor...]) }
        return parse(String(decoding: kept, as: UTF8.self))
    }

    /// Parses text with the bot's mention already taken out.
    public static func parse(_ text: String) -> ConsentCommand? {
        // Leading whitespace, and the separators people put after a mention ("@bot, opt in").
        let rest = Substring(text).drop { $0.isWhitespace || $0 == "," || $0 == ":" }
        for (words, command) in table where begins(rest, with: words) { return command }
        return nil
    }

    /// Whether `text` begins with `words` as whole words.
    private static func begins(_ text: Substring, with words: [String]) -> Bool {
        var rest = text
        for (index, word) in words.enumerated() {
            if index > 0 {
                guard let first = rest.first, first.isWhitespace else { return false }
                rest = rest.drop { $0.isWhitespace }
            }
            let head = rest.prefix(word.count)
            guard head.count == word.count, head.lowercased() == word else { return false }
            rest = rest.dropFirst(word.count)
        }
        // A whole word: what follows is the end, a space or punctuation, not more of a word.
        if let next = rest.first, next.isLetter || next.isNumber || next == "-" || next == "_" || next == "'" || next == "’" {
            return false
        }
        return true
    }
}
