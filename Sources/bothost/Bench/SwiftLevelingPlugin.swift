import BotHost
import BotHostConfig
import Plugins

/// The default leveling rules hand-written in Swift (bench only: the host runs them as
/// the built-in rule pack): XP for posts (by media
/// class), likes and reposts; nothing for self-interactions; deletes revoke and
/// updates re-grade through the host's keyed grants.
///
/// Levels and milestones are the host's ``Progression``, configured from the same
/// `leveling:` section.
final class LevelingPlugin: Plugin {
    public let id = "leveling"
    public let collections = [Collections.post, Collections.like, Collections.repost]
    /// The XP amounts in force.
    public let amounts: LevelingConfiguration.Amounts

    private var postRule = RuleRef.unregistered
    private var likeRule = RuleRef.unregistered
    private var repostRule = RuleRef.unregistered
    private var postCollection: UInt16 = 0
    private var likeCollection: UInt16 = 0
    private var repostCollection: UInt16 = 0

    /// Collection NSIDs this plugin reads.
    public enum Collections {
        public static let post = "app.bsky.feed.post"
        public static let like = "app.bsky.feed.like"
        public static let repost = "app.bsky.feed.repost"
    }

    enum Keys {
        static let subject: JSONKey = "subject"
        static let uri: JSONKey = "uri"
    }

    public init(amounts: LevelingConfiguration.Amounts = .init()) {
        self.amounts = amounts
    }

    public func register(in context: PluginContext) {
        let version = amounts.version
        postRule = context.registerRule(plugin: id, rule: "post", version: version)
        likeRule = context.registerRule(plugin: id, rule: "like", version: version)
        repostRule = context.registerRule(plugin: id, rule: "repost", version: version)
        postCollection = context.collectionID(Collections.post)
        likeCollection = context.collectionID(Collections.like)
        repostCollection = context.collectionID(Collections.repost)
    }

    public func handle(_ event: Event, in context: PluginContext) {
        guard let commit = event.commit else { return }
        let collection = context.currentCollection
        let rule = collection == postCollection ? postRule : (collection == likeCollection ? likeRule : repostRule)
        if commit.operation == .delete {
            context.revoke(rule: rule)
            return
        }
        let record = commit.record
        if collection == postCollection {
            let media = MediaClass(post: record)
            context.grant(amount: amounts.post(media), tag: media.rawValue, rule: rule)
        } else if collection == likeCollection {
            let subject = record[Keys.subject][Keys.uri]
            context.grant(amount: RecordURI.isOwn(subject, event) ? amounts.selfInteraction : amounts.like, rule: rule)
        } else if collection == repostCollection {
            let subject = record[Keys.subject][Keys.uri]
            if RecordURI.isOwn(subject, event) {
                context.grant(amount: amounts.selfInteraction, rule: rule)
                return
            }
            var amount = amounts.repostOfUnseen
            if let media = RecordURI.withBytes(of: subject, { reposted(uri: $0, context) }) {
                amount = amounts.post(media)
            }
            context.grant(amount: amount, rule: rule)
        }
    }

    /// The media class of the post a repost names, when the host holds its live grant.
    private func reposted(uri: UnsafeRawBufferPointer, _ context: PluginContext) -> MediaClass? {
        guard let parts = RecordURI(uri), parts.collectionEquals(Collections.post),
              let post = context.liveGrant(did: parts.authority, collection: postCollection, rkey: parts.rkey)
        else { return nil }
        return MediaClass(rawValue: post.tag)
    }
}

extension BotHostConfiguration {
    /// The plugins of this configuration with the hand-written Swift leveling plugin in
    /// the live pack's place (`replay --swift-leveling`, `bench-apply`): kept in
    /// the CLI only so `make bench` can measure the rule packs' overhead.
    func makePlugins(packs: PackSelection? = nil, swiftLeveling: Bool) -> [any Plugin] {
        var plugins = makePlugins(packs: packs)
        if swiftLeveling { plugins[1] = LevelingPlugin(amounts: leveling.amounts) }
        return plugins
    }
}
