import BotHost
import Rules

/// The numbers of the leveling rules, read from the `leveling:` section of the
/// config file. Every field has the spec's default, so an empty file is valid.
public struct LevelingConfiguration: Sendable, Equatable {
    /// XP per kind of record.
    public struct Amounts: Sendable, Equatable {
        /// A post with no media. Default 50.
        public var post: Int = 50
        /// A post with media where not every item is described. Default 60.
        public var postWithMedia: Int = 60
        /// A post whose media items all have alt text. Default 70.
        public var postWithDescribedMedia: Int = 70
        /// A like of someone else's record. Default 10.
        public var like: Int = 10
        /// A repost of a post the host has not seen created (or saw deleted). Default 50.
        public var repostOfUnseen: Int = 50
        /// A like or repost of one's own record. Default 0.
        public var selfInteraction: Int = 0

        public init() {}

        /// The amount for a post of the given media class (also what a repost of it earns).
        @inlinable public func post(_ media: MediaClass) -> Int {
            switch media {
            case .none: post
            case .undescribed: postWithMedia
            case .described: postWithDescribedMedia
            }
        }

        /// A short version tag that changes whenever an amount does, recorded with every
        /// ledger entry so old grants can be told from new ones.
        public var version: String {
            "v1:\(post)/\(postWithMedia)/\(postWithDescribedMedia)/\(like)/\(repostOfUnseen)/\(selfInteraction)"
        }
    }

    /// XP amounts.
    public var amounts = Amounts()
    /// Levels, milestones and announcement text.
    public var progression = Progression.default

    public init() {}
}

/// Consent options (the `consent:` section).
public struct ConsentConfiguration: Sendable, Equatable {
    /// Whether following the bot opts in. Default off.
    public var followOptsIn = false
    /// Whether the bot answers a command with a short confirmation reply. Default on.
    public var confirmCommands = true
    /// At most one confirmation per account in this many minutes (default 60), and at
    /// most `confirmationsPerHour` in all: a loop of commands cannot make the bot spam.
    public var confirmIntervalMinutes = 60
    public var confirmationsPerHour = 60
    public init() {}
}

/// The bot account (the `bot:` section): whose mentions carry consent commands.
public struct BotAccountConfiguration: Sendable, Equatable {
    /// The bot's DID; without it nobody can opt in.
    public var did: String?
    /// The bot's handle, for messages.
    public var handle: String?
    /// The PDS the bot posts through (`BOTHOST_PDS` overrides it).
    public var pds: String?
    /// The login identifier, a handle or DID (`BOTHOST_IDENTIFIER` overrides it).
    public var identifier: String?
    /// A file holding the app password, which must not be readable by group or others
    /// (mode 0600); `BOTHOST_APP_PASSWORD` is used first when set.
    public var appPasswordFile: String?
    /// Whether the bot labels its own profile as automated (the `bot` self-label).
    public var declareAutomated = false
    /// Print what would be posted instead of posting.
    public var dryRun = false
    public init() {}
}




