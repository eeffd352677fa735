/// A level tier and the label value an account carries from that level up (until the next
/// tier's), with the names and descriptions the app shows for it.
public struct LabelTier: Sendable, Equatable {
    /// The level the tier starts at.
    public var level: Int
    /// The label value, `[a-z-]+`: the app shows a labeler's own values only when they
    /// match that (`CUSTOM_LABEL_VALUE_RE` in @atproto/api; the lexicon says the same), so
    /// the default for level 5 is `level-five`, not `level-5`.
    public var value: String
    /// Names and descriptions by language; the first is the fallback.
    public var locales: [Locale]

    public struct Locale: Sendable, Equatable {
        public var lang: String
        public var name: String
        public var description: String

        public init(lang: String, name: String, description: String) {
            self.lang = lang; self.name = name; self.description = description
        }
    }

    public init(level: Int, value: String, locales: [Locale]) {
        self.level = level; self.value = value; self.locales = locales
    }

    /// The default tier for a milestone level: `level-ten`, "Level 10", in English.
    public static func standard(level: Int) -> LabelTier {
        LabelTier(level: level, value: "level-" + NumberWords.english(level),
                  locales: [Locale(lang: "en", name: "Level \(level)",
                                   description: "Reached level \(level) on this bot's leveling (opted in; the badge follows the level).")])
    }

    /// Why a value cannot be a label value the app shows; nil when it can.
    public static func problem(with value: String) -> String? {
        if value.isEmpty { return "a label value cannot be empty" }
        if value.utf8.count > 100 { return "a label value has at most 100 characters" }
        if !value.utf8.allSatisfy({ (0x61...0x7A).contains($0) || $0 == 0x2D }) {
            return "a label value may hold only lowercase letters a-z and '-' (the app ignores others), got '\(value)'"
        }
        return nil
    }

    /// The tier an account at `level` is in (the highest starting at or below it), if any.
    public static func tier(for level: Int, in tiers: [LabelTier]) -> LabelTier? {
        tiers.last { $0.level <= level }
    }
}

/// English number words for label values (`twenty-five`), which allow no digits.
public enum NumberWords {
    private static let small = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
    private static let tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

    /// `0...999_999_999` as hyphenated words: 25 → `twenty-five`, 100 → `one-hundred`,
    /// 1005 → `one-thousand-five`.
    public static func english(_ number: Int) -> String {
        precondition(number >= 0 && number < 1_000_000_000)
        if number < 20 { return small[number] }
        if number < 100 { return tens[number / 10] + (number % 10 == 0 ? "" : "-" + small[number % 10]) }
        for (size, word) in [(1_000_000, "million"), (1_000, "thousand"), (100, "hundred")] where number >= size {
            let rest = number % size
            return english(number / size) + "-" + word + (rest == 0 ? "" : "-" + english(rest))
        }
        return ""
    }
}
