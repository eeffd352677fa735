#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import XRPCClient

/// The JSON a plugin stored with an outbox row (see ``PluginContext``): read with a
/// Codable decoder, which is fine here: a few messages a minute, not the event path.
struct OutboxPayload: Decodable {
    var type: String
    var did: String
    var handle: String?
    var level: Int?
    var xp: Int64?
    var text: String?
    var mention: Bool?
    var subject: String?
    var parent_uri: String?
    var parent_cid: String?
    var root_uri: String?
    var root_cid: String?
    // Ranking announcements.
    var template: String?
    var n: Int?
    var rank: Int?
    var window: String?
    // Season-end announcements.
    var season: String?

    static func decode(_ text: String) -> OutboxPayload? {
        try? JSONDecoder().decode(OutboxPayload.self, from: Data(text.utf8))
    }

    /// The post to reply to, when the row names one.
    var replyRef: ReplyRef? {
        guard let parent_uri, let parent_cid else { return nil }
        let parent = StrongRef(uri: parent_uri, cid: parent_cid)
        let root = root_uri.flatMap { uri in root_cid.map { StrongRef(uri: uri, cid: $0) } } ?? parent
        return ReplyRef(root: root, parent: parent)
    }
}

/// A prepared delivery, stored in the row's `request` column so every retry sends
/// exactly the same thing under the same record key.
struct PreparedDelivery: Codable {
    /// `post` (createRecord of app.bsky.feed.post) or `dm` (chat message).
    var via: String
    var post: PostRecord?
    /// For a DM: the recipient and the message.
    var recipient: String?
    var text: String?
    var facets: [Facet]?
    /// Whether the text mentions the account (it was opted in with pings when prepared);
    /// nil in requests stored by older versions.
    var mentions: Bool?

    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    static func decode(_ text: String) -> PreparedDelivery? {
        try? JSONDecoder().decode(PreparedDelivery.self, from: Data(text.utf8))
    }
}
