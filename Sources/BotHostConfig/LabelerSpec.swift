import BotHost
import BotHostLabels
import Rules
import Yams

/// `labeler:` in the config file (docs/labels.md):
///
/// ```yaml
/// labeler:
///   did: did:plc:…            # default: bot.did
///   key_file: labeler.key     # mode 0600, relative to the config file; else $BOTHOST_LABELER_KEY
///   interval_seconds: 5
///   expiry_days: 30           # optional: labels carry exp and are renewed
///   retention_days: 90        # optional: superseded labels are pruned
///   tiers:                    # optional: default one per milestone (level-five, …)
///     - level: 5
///       value: level-five
///       locales:
///         - {lang: en, name: "Level 5", description: "Reached level 5"}
/// ```
enum LabelerSpec {
    static func parse(_ node: Node, _ doc: YAMLDocument, file: String) throws(Diagnostic) -> LabelerConfiguration {
        let map = try doc.mapping(node, "labeler")
        try doc.rejectUnknownKeys(in: map, allowed: ["did", "key_file", "interval_seconds", "expiry_days", "retention_days", "tiers"],
                                  section: "labeler")
        var config = LabelerConfiguration()
        if let value = map["did"] {
            let did = try doc.string(value, "labeler.did")
            guard did.hasPrefix("did:"), did.utf8.count <= 2_048 else { throw doc.error("labeler.did must be a DID, got '\(did.prefix(80))'", at: value) }
            config.did = did
        }
        if let value = map["key_file"] {
            let path = try doc.string(value, "labeler.key_file")
            guard !path.isEmpty else { throw doc.error("labeler.key_file cannot be empty", at: value) }
            config.keyFile = ConfigPaths.resolve(path, relativeTo: file)
        }
        if let value = map["interval_seconds"] { config.intervalSeconds = Int(try doc.int(value, "labeler.interval_seconds", in: 1...3_600)) }
        if let value = map["expiry_days"] { config.expiryDays = Int(try doc.int(value, "labeler.expiry_days", in: 1...3_650)) }
        if let value = map["retention_days"] { config.retentionDays = Int(try doc.int(value, "labeler.retention_days", in: 1...36_500)) }
        if let list = map["tiers"] {
            var tiers: [LabelTier] = []
            for item in try doc.sequence(list, "labeler.tiers") {
                let tier = try parseTier(item, doc)
                if let last = tiers.last, last.level >= tier.level {
                    throw doc.error("labeler.tiers must go up by level: \(tier.level) comes after \(last.level)", at: item)
                }
                if tiers.contains(where: { $0.value == tier.value }) { throw doc.error("two tiers have the value \(tier.value)", at: item) }
                tiers.append(tier)
            }
            guard !tiers.isEmpty else { throw doc.error("labeler.tiers needs at least one tier (or leave it out for one per milestone)", at: list) }
            config.tiers = tiers
        }
        return config
    }

    private static func parseTier(_ node: Node, _ doc: YAMLDocument) throws(Diagnostic) -> LabelTier {
        let map = try doc.mapping(node, "a tier")
        try doc.rejectUnknownKeys(in: map, allowed: ["level", "value", "locales"], section: "a tier")
        guard let levelNode = map["level"] else { throw doc.error("a tier needs level", at: node) }
        let level = Int(try doc.int(levelNode, "a tier's level", in: 1...1_000_000))
        var tier = LabelTier.standard(level: level)
        if let value = map["value"] {
            let text = try doc.string(value, "a tier's value")
            if let problem = LabelTier.problem(with: text) { throw doc.error(problem, at: value) }
            tier.value = text
        }
        if let list = map["locales"] {
            var locales: [LabelTier.Locale] = []
            for item in try doc.sequence(list, "a tier's locales") {
                let entry = try doc.mapping(item, "a locale")
                try doc.rejectUnknownKeys(in: entry, allowed: ["lang", "name", "description"], section: "a locale")
                var fields: [String: String] = [:]
                for key in ["lang", "name", "description"] {
                    guard let value = entry[Node(key)] else { throw doc.error("a locale needs \(key) (lang, name and description)", at: item) }
                    let text = try doc.string(value, "a locale's \(key)")
                    guard text.contains(where: { !$0.isWhitespace }) else { throw doc.error("a locale's \(key) cannot be empty", at: value) }
                    // The lexicon's limits: a name of 64 graphemes, a description of 10,000.
                    if key == "name", text.count > 64 { throw doc.error("a label's name has at most 64 characters", at: value) }
                    if key == "description", text.count > 10_000 { throw doc.error("a label's description has at most 10,000 characters", at: value) }
                    if key == "lang", !isLanguageTag(text) { throw doc.error("expected a language tag such as en or pt-BR, got '\(text.prefix(40))'", at: value) }
                    fields[key] = text
                }
                if locales.contains(where: { $0.lang == fields["lang"] }) { throw doc.error("two locales for \(fields["lang"]!)", at: item) }
                locales.append(LabelTier.Locale(lang: fields["lang"]!, name: fields["name"]!, description: fields["description"]!))
            }
            guard !locales.isEmpty else { throw doc.error("a tier's locales cannot be empty", at: list) }
            tier.locales = locales
        }
        return tier
    }

    /// A BCP-47-shaped tag: letters, digits and hyphens, starting with 2–3 letters.
    private static func isLanguageTag(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, (2...3).contains(first.count), first.allSatisfy({ $0.isASCII && $0.isLetter }) else { return false }
        return parts.dropFirst().allSatisfy { (1...8).contains($0.count) && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
    }
}
