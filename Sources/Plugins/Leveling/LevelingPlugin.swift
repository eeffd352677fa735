import BotHost

/// The default leveling rules (`shared/spec/leveling.md`): XP for posts (by media
/// class), likes and reposts; nothing for self-interactions; deletes revoke and
/// updates re-grade through the host's keyed grants.
///
/// Levels and milestones are the host's ``Progression``, configured from the same
/// `leveling:` section.
public final class LevelingPlugin: Plugin {
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
            context.grant(amount: Self.isOwn(subject, event) ? amounts.selfInteraction : amounts.like, rule: rule)
        } else if collection == repostCollection {
            let subject = record[Keys.subject][Keys.uri]
            if Self.isOwn(subject, event) {
                context.grant(amount: amounts.selfInteraction, rule: rule)
                return
            }
            var amount = amounts.repostOfUnseen
            if let media = Self.withBytes(of: subject, { reposted(uri: $0, context) }) {
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

    /// Calls `body` with a string value's bytes: in place when unescaped, decoded otherwise.
    static func withBytes<T>(of value: JSONValue, _ body: (UnsafeRawBufferPointer) -> T?) -> T? {
        if let bytes = value.unescapedBytes { return body(bytes) }
        guard var text = value.string else { return nil }
        return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    /// Whether `uri` names a record in the event's own repository (`at://<did>/…`).
    static func isOwn(_ uri: JSONValue, _ event: Event) -> Bool {
        guard let did = event.did.unescapedBytes else { return false }
        return withBytes(of: uri) { RecordURI.hasAuthority($0, did) } ?? false
    }
}

/// `at://AUTHORITY/COLLECTION/RKEY` split on the raw bytes, without allocating.
struct RecordURI {
    let authority: UnsafeRawBufferPointer
    let collection: UnsafeRawBufferPointer
    let rkey: UnsafeRawBufferPointer

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 5, bytes.starts(with: "at://".utf8) else { return nil }
        guard let slash1 = bytes[5...].firstIndex(of: UInt8(ascii: "/")),
              let slash2 = bytes[(slash1 + 1)...].firstIndex(of: UInt8(ascii: "/")) else { return nil }
        authority = UnsafeRawBufferPointer(rebasing: bytes[5..<slash1])
        collection = UnsafeRawBufferPointer(rebasing: bytes[(slash1 + 1)..<slash2])
        rkey = UnsafeRawBufferPointer(rebasing: bytes[(slash2 + 1)...])
    }

    func collectionEquals(_ nsid: String) -> Bool { collection.elementsEqual(nsid.utf8) }

    /// Whether `uri` starts with `at://` + `did` + `/`.
    static func hasAuthority(_ uri: UnsafeRawBufferPointer, _ did: UnsafeRawBufferPointer) -> Bool {
        let n = did.count
        guard uri.count > 5 + n, uri.starts(with: "at://".utf8), uri[5 + n] == UInt8(ascii: "/") else { return false }
        return UnsafeRawBufferPointer(rebasing: uri[5..<(5 + n)]).elementsEqual(did)
    }
}
