import XRPCClient

// The records every store returns (SQLite, PostgreSQL): one definition for both.

/// One account as exported and shown by the CLI.
public struct AccountRecord: Sendable, Equatable {
    public var id: Int64
    public var did: String
    public var handle: String?
    public var xp: Int64
    public var level: Int
    /// Milestone levels reached, ascending.
    public var milestones: [Int]
    public var status: String
    public var consent: String
    /// The profile's display name, when a host fetched it (``ProfileResolver``).
    public var displayName: String?
    /// Off the leaderboards by a moderator (`exclude`), or by the account itself (`no rank`).
    public var excluded = false
    public var selfUnranked = false
    /// A privacy request removed its rows (the row stays as a tombstone).
    public var purged = false

    public init(id: Int64, did: String, handle: String?, xp: Int64, level: Int, milestones: [Int], status: String, consent: String,
                displayName: String? = nil) {
        self.id = id
        self.did = did
        self.handle = handle
        self.displayName = displayName
        self.xp = xp
        self.level = level
        self.milestones = milestones
        self.status = status
        self.consent = consent
    }
}

/// One ledger entry with its provenance, for `bothost user`.
public struct LedgerRecord: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var amount: Int64
    public var plugin: String
    public var rule: String
    public var version: String
    /// `at://did/collection/rkey` of the event that produced it.
    public var uri: String
    public var timeUS: Int64

    public init(id: Int64, kind: String, amount: Int64, plugin: String, rule: String, version: String, uri: String, timeUS: Int64) {
        self.id = id
        self.kind = kind
        self.amount = amount
        self.plugin = plugin
        self.rule = rule
        self.version = version
        self.uri = uri
        self.timeUS = timeUS
    }
}

/// One row of a leaderboard.
public struct RankedAccount: Sendable, Equatable {
    public var rank: Int
    public var did: String
    public var handle: String?
    /// XP gained in the window (all-time boards: the total).
    public var score: Int64
    public var xp: Int64
    public var level: Int
    /// The profile's display name, when a host fetched it (``ProfileResolver``).
    public var displayName: String?

    public init(rank: Int, did: String, handle: String?, score: Int64, xp: Int64, level: Int, displayName: String? = nil) {
        self.rank = rank
        self.did = did
        self.handle = handle
        self.displayName = displayName
        self.score = score
        self.xp = xp
        self.level = level
    }
}

/// The sliding windows of the rankings.
public enum RankingWindow: String, Sendable, CaseIterable {
    case hour, day, week, month

    /// The window's length in microseconds (1 h, 24 h, 7 days, 30 days).
    public var microseconds: Int64 {
        switch self {
        case .hour: 3_600_000_000
        case .day: 86_400_000_000
        case .week: 7 * 86_400_000_000
        case .month: 30 * 86_400_000_000
        }
    }
}

/// An ended season whose top N is archived.
public struct ArchivedSeason: Sendable, Equatable {
    public var name: String
    public var startUS: Int64
    public var endUS: Int64
    public var archivedUS: Int64
    public var entries: Int
    public init(name: String, startUS: Int64, endUS: Int64, archivedUS: Int64, entries: Int) {
        self.name = name; self.startUS = startUS; self.endUS = endUS; self.archivedUS = archivedUS; self.entries = entries
    }
}

/// A moderator action, as audited.
public struct AuditRecord: Sendable, Equatable {
    public var id: Int64
    public var timeUS: Int64
    public var actor: String
    public var action: String
    public var did: String?
    public var detail: String

    public init(id: Int64, timeUS: Int64, actor: String, action: String, did: String?, detail: String) {
        self.id = id; self.timeUS = timeUS; self.actor = actor; self.action = action; self.did = did; self.detail = detail
    }
}

/// Figures for `bothost status`.
public struct StoreStatus: Sendable {
    public var cursorUS: Int64?
    public var cursorUpdatedUS: Int64?
    public var accounts = 0
    public var ledgerEntries = 0
    public var liveGrants = 0
    public var milestones = 0
    public var outbox: [String: Int] = [:]
    /// Untrusted plugins' health as the host last wrote it (``PluginHealth``), as JSON
    /// by plugin id.
    public var pluginHealth: [String: String] = [:]
    public init() {}
}

/// A ranking change as stored.
public struct RankEventRecord: Sendable, Equatable {
    public var timeUS: Int64
    public var window: String
    public var threshold: Int
    public var did: String
    public var handle: String?
    public var kind: String
    public var rank: Int?

    public init(timeUS: Int64, window: String, threshold: Int, did: String, handle: String?, kind: String, rank: Int?) {
        self.timeUS = timeUS; self.window = window; self.threshold = threshold; self.did = did; self.handle = handle
        self.kind = kind; self.rank = rank
    }
}

/// What a shadow pack would have done next to the live pack (`bothost rules diff`).
public struct ShadowDiff: Sendable {
    /// XP per rule name: granted by the live rules and by the shadow pack's.
    public struct RuleTotals: Sendable, Equatable {
        public var rule: String
        public var liveXP: Int64
        public var shadowXP: Int64

        public init(rule: String, liveXP: Int64, shadowXP: Int64) {
            self.rule = rule
            self.liveXP = liveXP
            self.shadowXP = shadowXP
        }
    }

    /// One account whose shadow XP differs from its live XP.
    public struct Account: Sendable, Equatable {
        public var did: String
        public var handle: String?
        public var liveXP: Int64
        public var liveLevel: Int
        public var shadowXP: Int64
        public var shadowLevel: Int

        public init(did: String, handle: String?, liveXP: Int64, liveLevel: Int, shadowXP: Int64, shadowLevel: Int) {
            self.did = did
            self.handle = handle
            self.liveXP = liveXP
            self.liveLevel = liveLevel
            self.shadowXP = shadowXP
            self.shadowLevel = shadowLevel
        }
    }

    /// The shadow pack's id and version (nil when no shadow pack ever ran).
    public var shadowPack: String?
    public var shadowVersion: String?
    public var rules: [RuleTotals] = []
    public var accountsCompared = 0
    public var accountsDiffering = 0
    /// The accounts that differ most, largest difference first.
    public var largestDifferences: [Account] = []
    public var liveMilestones = 0
    public var shadowMilestones = 0
    /// Milestones only the shadow pack reached, and those only the live rules reached.
    public var onlyShadowMilestones = 0
    public var onlyLiveMilestones = 0
    /// Announcements the shadow pack would have added (its extra milestones of accounts
    /// whose consent allows announcements), and the live ones it would not have made.
    public var extraAnnouncements = 0
    public var missingAnnouncements = 0

    public init() {}
}

/// Errors of the store, with what to do about them.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

