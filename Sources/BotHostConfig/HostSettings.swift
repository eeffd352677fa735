import BotHost
import Rules

// The host's sections of the config file (outbox, store, analytics, jetstream); the
// sections plugins read (leveling, consent, bot) are in Plugins (PluginSettings.swift).
/// Announcement delivery (the `outbox:` section).
public struct OutboxConfiguration: Sendable, Equatable {
    /// How an announcement is delivered.
    public enum Mode: String, Sendable, CaseIterable {
        /// A reply to the post that reached the milestone (a standalone post when the
        /// milestone came from a like or repost, or for `no ping` accounts).
        case reply
        /// A standalone post.
        case post
        /// A direct message (chat), through the PDS's chat proxy.
        case dm
    }
    public var mode = Mode.reply
    /// Announcements of events older than this are recorded but not posted (0 = no limit).
    public var maxAgeSeconds: Int64 = 86_400
    /// Attempts before a message is `failed`.
    public var maxAttempts = 8
    /// Several pending announcements of one account become one post.
    public var coalesce = true
    /// The account's write budget (create = 3 points) and the share kept unused.
    public var hourlyPoints = 5_000
    public var dailyPoints = 35_000
    public var headroomPercent = 10
    public init() {}
}

/// Store options (the `store:` section).
public struct StoreConfiguration: Sendable, Equatable {
    /// Events per committed replay batch. Default 100,000: larger batches write each hot
    /// B-tree page once per commit instead of once per small batch (docs/performance.md).
    public var batchSize = 100_000
    /// Days a deleted account's rows are kept before they are purged, on the event
    /// stream's clock. Default 30.
    public var retentionDays = 30
    /// Minutes of stream time a record's live grant stays in memory after the record's
    /// creation (its TID); older grants are read from the store when an event needs
    /// them, so memory does not grow with the run. Default 30; 0 keeps all in memory.
    public var hotGrantsMinutes = 30
    /// Where the state lives: a SQLite path, `sqlite:PATH`, or `postgres://…` (nil: the
    /// command's `--db`). `--store` overrides it.
    public var url: String?
    public init() {}
}

/// Analytics options (the `analytics:` section).
public struct AnalyticsConfiguration: Sendable, Equatable {
    /// Count activity at all (the activity plugin, which also makes the live subscription
    /// carry every collection). Default on.
    public var enabled = true
    /// Keep per-hour activity counts as well as per-day ones. Default on.
    public var hourly = true
    /// Days daily counts are kept (stream clock). Default 90.
    public var retentionDays = 90
    /// Days hourly counts are kept (stream clock). Default 7.
    public var hourlyRetentionDays = 7
    public init() {}
}

/// Live intake options (the `jetstream:` section).
public struct JetstreamConfiguration: Sendable, Equatable {
    /// Hosts to follow, tried in order with failover (default: the four public v1 instances).
    public var hosts: [String] = []
    /// Only these repositories (empty: all).
    public var wantedDids: [String] = []
    /// Ask for zstd-compressed frames. Default on.
    public var compress = true
    /// Seconds a resume from the stored cursor goes back. Default 5.
    public var rewindSeconds = 5.0
    /// Events per live batch at most. Default 5,000.
    public var batchSize = 5_000
    /// Milliseconds after which a non-empty live batch is committed. Default 20: at live
    /// rates a commit is cheap, and this bounds event→commit latency.
    public var batchDelayMS = 20
    public init() {}
}
