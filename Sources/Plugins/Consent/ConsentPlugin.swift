import BotHost

/// Reads consent commands addressed to the bot (leveling spec, "Consent"): a post that
/// mentions the bot with `opt in`, `opt out` or `no ping`; a block of the bot opts out;
/// a follow opts in when configured.
///
/// Without a configured bot DID the plugin does nothing: nobody can be mentioned who
/// did not opt in, and nobody can opt in to an unknown bot.
public final class ConsentPlugin: Plugin {
    public let id = "consent"
    public let collections = ["app.bsky.feed.post", "app.bsky.graph.follow", "app.bsky.graph.block"]
    private let botDID: JSONKey?
    private let followOptsIn: Bool
    private var post: UInt16 = 0
    private var follow: UInt16 = 0
    private var block: UInt16 = 0

    enum Keys {
        static let facets: JSONKey = "facets"
        static let features: JSONKey = "features"
        static let type: JSONKey = "$type"
        static let did: JSONKey = "did"
        static let text: JSONKey = "text"
        static let subject: JSONKey = "subject"
        static let mention: JSONKey = "app.bsky.richtext.facet#mention"
    }

    public init(bot: BotAccountConfiguration, options: ConsentConfiguration) {
        botDID = bot.did.map { JSONKey($0) }
        followOptsIn = options.followOptsIn
    }

    public func register(in context: PluginContext) {
        post = context.collectionID("app.bsky.feed.post")
        follow = context.collectionID("app.bsky.graph.follow")
        block = context.collectionID("app.bsky.graph.block")
    }

    public func handle(_ event: Event, in context: PluginContext) {
        guard let botDID, let commit = event.commit, commit.operation == .create else { return }
        let collection = context.currentCollection
        let record = commit.record
        if collection == block {
            if record[Keys.subject].stringEquals(botDID) { context.setConsent(.optedOut) }
        } else if collection == follow {
            if followOptsIn && record[Keys.subject].stringEquals(botDID) && context.consent != .optedIn {
                context.setConsent(.optedIn)
            }
        } else if collection == post {
            guard mentionsBot(record, botDID), let text = record[Keys.text].string,
                  let command = Self.command(in: text) else { return }
            context.setConsent(command)
        }
    }

    private func mentionsBot(_ record: JSONValue, _ bot: JSONKey) -> Bool {
        for facet in record[Keys.facets].elements {
            for feature in facet[Keys.features].elements
            where feature[Keys.type].stringEquals(Keys.mention) && feature[Keys.did].stringEquals(bot) {
                return true
            }
        }
        return false
    }

    /// The consent command a post's text carries; `opt out` wins over `no ping`, which
    /// wins over `opt in`, so an ambiguous post never widens consent.
    static func command(in text: String) -> Consent? {
        let lower = text.lowercased()
        let words = lower.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        if words.contains("opt out") { return .optedOut }
        if words.contains("no ping") { return .noPing }
        if words.contains("opt in") { return .optedIn }
        return nil
    }
}
