import BotHost

/// Reads consent commands addressed to the bot (leveling spec, "Consent"): a post that
/// mentions the bot (a mention facet with the bot's DID) with `opt in`, `opt out`,
/// `no ping` or `status`; a block of the bot opts out; a follow opts in when configured.
///
/// Each command is answered with a short reply (queued in the outbox, once per command
/// post; the dispatcher rate-limits them). Without a bot DID the plugin does nothing:
/// nobody can opt in to an unknown bot.
public final class ConsentPlugin: Plugin {
    public let id = "consent"
    public let collections = ["app.bsky.feed.post", "app.bsky.graph.follow", "app.bsky.graph.block"]
    private let botDID: JSONKey?
    private let options: ConsentConfiguration
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
        static let index: JSONKey = "index"
        static let byteStart: JSONKey = "byteStart"
        static let byteEnd: JSONKey = "byteEnd"
    }

    public init(bot: BotAccountConfiguration, options: ConsentConfiguration) {
        botDID = bot.did.map { JSONKey($0) }
        self.options = options
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
            if record[Keys.subject].stringEquals(botDID) { context.setConsent(.optedOut, source: "block:" + context.currentRecordURI) }
        } else if collection == follow {
            if options.followOptsIn && record[Keys.subject].stringEquals(botDID) && context.consent == .none {
                context.setConsent(.optedIn, source: "follow:" + context.currentRecordURI)
            }
        } else if collection == post {
            guard let mentions = botMentions(record, botDID), let text = record[Keys.text].string,
                  let command = ConsentCommand.parse(Array(text.utf8), removing: mentions) else { return }
            switch command {
            case .ranked(let ranked):
                context.setRanked(ranked, source: context.currentRecordURI)
            case .set(let consent):
                context.setConsent(consent, source: context.currentRecordURI)
                confirm(Self.confirmation(for: consent), context)
            case .status:
                confirm(Self.status(context.consent, level: context.level, xp: context.xp), context)
            }
        }
    }

    /// Answers only accounts that are opted in once the command is applied: a reply
    /// notifies its parent's author, and nobody who has not opted in (or just opted
    /// out) is ever notified by the bot. An opt-out is honoured by silence.
    private func confirm(_ text: String, _ context: PluginContext) {
        guard options.confirmCommands, context.consent.allowsAnnouncements else { return }
        context.queueReply(kind: "confirm", text: text)
    }

    static func confirmation(for consent: Consent) -> String {
        switch consent {
        case .optedIn: "You're in: I'll announce your level-ups. Reply \"no ping\" to be announced without a mention, or \"opt out\" to stop."
        case .noPing: "Done: I'll announce your level-ups without mentioning you."
        case .optedOut: "You're out: I won't post about you. Mention me with \"opt in\" to come back."
        case .none: "Noted."
        }
    }

    static func status(_ consent: Consent, level: Int, xp: Int64) -> String {
        let state: String
        switch consent {
        case .optedIn: state = "opted in to level-up announcements"
        case .noPing: state = "opted in, without mentions (no ping)"
        case .optedOut: state = "opted out"
        case .none: state = "not opted in (mention me with \"opt in\")"
        }
        return "You're \(state). Level \(level), \(xp) XP."
    }

    /// The byte ranges of the post's mentions of the bot; nil when it does not mention it.
    private func botMentions(_ record: JSONValue, _ bot: JSONKey) -> [(start: Int, end: Int)]? {
        var ranges: [(start: Int, end: Int)] = []
        for facet in record[Keys.facets].elements {
            for feature in facet[Keys.features].elements
            where feature[Keys.type].stringEquals(Keys.mention) && feature[Keys.did].stringEquals(bot) {
                let index = facet[Keys.index]
                // A missing or absurd index gives an empty range, which the parser refuses.
                let start = index[Keys.byteStart].int64.map { Int(clamping: $0) } ?? -1
                let end = index[Keys.byteEnd].int64.map { Int(clamping: $0) } ?? -1
                ranges.append((start, end))
            }
        }
        return ranges.isEmpty ? nil : ranges
    }
}
