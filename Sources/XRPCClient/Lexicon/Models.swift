/// The lexicon objects BotHost reads and writes, as Codable values. Only the fields the
/// bot uses are modelled; records pass unknown fields through ``JSONAny``.

/// `com.atproto.server.createSession` / `refreshSession` output.
public struct Session: Codable, Sendable {
    public var did: String
    public var handle: String
    public var accessJwt: String
    public var refreshJwt: String
    public var active: Bool?
}

/// `com.atproto.repo.strongRef`: a record and the exact version of it.
public struct StrongRef: Codable, Sendable, Equatable, Hashable {
    public var uri: String
    public var cid: String
    public init(uri: String, cid: String) {
        self.uri = uri
        self.cid = cid
    }
}

/// `app.bsky.feed.post#replyRef`.
public struct ReplyRef: Codable, Sendable, Equatable {
    public var root: StrongRef
    public var parent: StrongRef
    public init(root: StrongRef, parent: StrongRef) {
        self.root = root
        self.parent = parent
    }
}

/// `app.bsky.richtext.facet`: a feature attached to a byte range of the text.
public struct Facet: Codable, Sendable, Equatable {
    public struct ByteSlice: Codable, Sendable, Equatable {
        public var byteStart: Int
        public var byteEnd: Int
    }

    public enum Feature: Codable, Sendable, Equatable {
        case mention(did: String)
        case link(uri: String)
        case tag(String)

        enum CodingKeys: String, CodingKey { case type = "$type", did, uri, tag }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            switch try container.decode(String.self, forKey: .type) {
            case "app.bsky.richtext.facet#mention": self = .mention(did: try container.decode(String.self, forKey: .did))
            case "app.bsky.richtext.facet#link": self = .link(uri: try container.decode(String.self, forKey: .uri))
            case "app.bsky.richtext.facet#tag": self = .tag(try container.decode(String.self, forKey: .tag))
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown facet feature \(other)")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .mention(let did):
                try container.encode("app.bsky.richtext.facet#mention", forKey: .type)
                try container.encode(did, forKey: .did)
            case .link(let uri):
                try container.encode("app.bsky.richtext.facet#link", forKey: .type)
                try container.encode(uri, forKey: .uri)
            case .tag(let tag):
                try container.encode("app.bsky.richtext.facet#tag", forKey: .type)
                try container.encode(tag, forKey: .tag)
            }
        }
    }

    public var index: ByteSlice
    public var features: [Feature]

    public init(byteStart: Int, byteEnd: Int, features: [Feature]) {
        self.index = ByteSlice(byteStart: byteStart, byteEnd: byteEnd)
        self.features = features
    }
}

/// `app.bsky.feed.post`.
public struct PostRecord: Codable, Sendable, Equatable {
    public var type = "app.bsky.feed.post"
    public var text: String
    public var facets: [Facet]?
    public var reply: ReplyRef?
    public var langs: [String]?
    public var createdAt: String

    enum CodingKeys: String, CodingKey { case type = "$type", text, facets, reply, langs, createdAt }

    public init(text: String, facets: [Facet]? = nil, reply: ReplyRef? = nil, langs: [String]? = nil, createdAt: String) {
        self.text = text
        self.facets = facets?.isEmpty == true ? nil : facets
        self.reply = reply
        self.langs = langs
        self.createdAt = createdAt
    }
}

/// `com.atproto.repo.getRecord` output, generic over the record type.
public struct RecordOutput<Value: Decodable & Sendable>: Decodable, Sendable {
    public var uri: String
    public var cid: String?
    public var value: Value
}

/// `app.bsky.actor.defs#profileViewDetailed`, the fields the bot reads.
public struct ProfileView: Codable, Sendable {
    public struct Label: Codable, Sendable { public var val: String }
    public var did: String
    public var handle: String
    public var displayName: String?
    public var labels: [Label]?
}

/// `chat.bsky.convo.defs#convoView`, the fields the bot reads.
public struct ConvoView: Codable, Sendable {
    public var id: String
    public var rev: String?
}

/// `chat.bsky.convo.defs#messageView`, the fields the bot reads.
public struct MessageView: Codable, Sendable {
    public var id: String
    public var rev: String?
    public var text: String
}
