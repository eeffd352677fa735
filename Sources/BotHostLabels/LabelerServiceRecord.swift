import BotHost
import XRPCClient

/// The bot's `app.bsky.labeler.service` record (rkey `self`): the label values the labeler
/// publishes and how the app shows them. Every tier is `inform` (a neutral badge), blurs
/// nothing, is shown by default (`warn`, which for an `inform` label is a badge) and is
/// not adult-only.
public struct LabelerServiceRecord: Codable, Sendable, Equatable {
    public static let collection = "app.bsky.labeler.service"
    public static let rkey = "self"

    public var type = LabelerServiceRecord.collection
    public var policies: Policies
    public var subjectTypes: [String]
    public var createdAt: String

    public struct Policies: Codable, Sendable, Equatable {
        public var labelValues: [String]
        public var labelValueDefinitions: [Definition]
    }

    public struct Definition: Codable, Sendable, Equatable {
        public var identifier: String
        public var severity: String
        public var blurs: String
        public var defaultSetting: String
        public var adultOnly: Bool
        public var locales: [Strings]
    }

    public struct Strings: Codable, Sendable, Equatable {
        public var lang: String
        public var name: String
        public var description: String
    }

    enum CodingKeys: String, CodingKey {
        case type = "$type", policies, subjectTypes, createdAt
    }

    public init(tiers: [LabelTier], createdAt: String) {
        policies = Policies(
            labelValues: tiers.map(\.value),
            labelValueDefinitions: tiers.map { tier in
                Definition(identifier: tier.value, severity: "inform", blurs: "none", defaultSetting: "warn", adultOnly: false,
                           locales: tier.locales.map { Strings(lang: $0.lang, name: $0.name, description: $0.description) })
            })
        subjectTypes = ["account"]
        self.createdAt = createdAt
    }

    /// Writes the record to the bot's repository (`putRecord`, so publishing again after a
    /// tier change replaces it).
    public func publish(with client: XRPCClient) async throws(XRPCError) -> StrongRef {
        try await client.putRecord(collection: Self.collection, rkey: Self.rkey, record: self)
    }
}
