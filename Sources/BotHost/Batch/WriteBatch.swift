import XRPCClient

/// Everything one batch changed, applied by a store in one transaction together with
/// the cursor.
///
/// A batch is ordered the way its events were: its rows come in ``Segment``s, and each
/// segment is preceded by the ``Barrier``s (cancels, purges, retention) that the events
/// before it caused. A store applies, in this order:
/// 1. the dictionaries (new collections, rules, counter names) and the new accounts;
/// 2. every segment in turn: its barriers, then its rows (ledger, milestones, outbox,
///    consent log, rank events, counters, XP buckets, shadow rows);
/// 3. the final state of what the batch touched (account profiles and totals, grants,
///    rule limits, shadow totals), which no barrier of a later batch precedes;
/// 4. the day roll-up, moderator command results, audit lines and the cursor.
///
/// Rows within a segment commute (appends and additive upserts), so a store writes each
/// kind in bulk; what does not commute with them is a barrier and starts a new segment.
/// That is why the stored state never depends on where batch boundaries fall: a batch of
/// one event and a batch of a hundred thousand apply the same steps in the same order.
public struct WriteBatch: Sendable {
    /// A new or changed account row.
    public struct AccountRow: Sendable {
        public var id: UInt32
        /// Set only for accounts created in this batch.
        public var did: String?
        /// Whether handle, status, consent or the relay seq changed (otherwise only the
        /// totals are written).
        public var profileChanged: Bool
        public var lastLedgerID: Int64
        public var handle: String?
        public var handleTimeUS: Int64
        public var status: String
        public var statusTimeUS: Int64
        public var consent: Consent
        /// TID integer, or the text of a non-TID rev; nil when no commit was applied yet.
        public var lastRev: RevValue?
        /// The operations applied at `lastRev` (hashes, see ``CommitOp``): the first, and
        /// the others of a multi-operation commit.
        public var lastOp: Int64
        public var moreOps: [Int64]
        /// The relay `seq` of the last account or identity event applied (0: none).
        public var lastSeq: Int64
        public var xp: Int64
        public var level: Int32
        public var maxLevel: Int32
    }

    /// A rev or record key as stored: an integer for TIDs, text otherwise.
    public enum RevValue: Sendable, Equatable {
        case tid(Int64)
        case text(String)
    }

    /// A live grant to upsert, or a revoked one to delete (`grant == nil`).
    public struct GrantRow: Sendable {
        public var key: GrantKey
        public var grant: Grant?
    }

    /// A deleted account's rows to remove.
    public struct Purge: Sendable {
        public var account: UInt32
        public var ledgerHead: Int64
        public var grants: [GrantKey]
    }

    /// An effect that does not commute with the rows before it: it applies to the state
    /// the earlier segments (and batches) left, before the next segment's rows.
    public enum Barrier: Sendable {
        /// The account's pending announcements (milestone, rank) are cancelled: it opted
        /// out, blocked the bot, or became inactive.
        case cancelAnnouncements(account: UInt32)
        /// A deleted account's rows are removed (its account row stays as a tombstone).
        case purge(Purge)
        /// Counters of buckets before `daily` (hourly ones before `hourly`) and windowed
        /// rule limits of windows that started before `limitsBefore` are deleted (unix
        /// seconds, day-aligned; once per stream day).
        case retention(daily: Int64, hourly: Int64, limitsBefore: Int64)
    }

    /// The rows of the events between two barriers; they commute with each other.
    public struct Segment: Sendable {
        /// Applied before this segment's rows.
        public var barriers: [Barrier] = []
        public var ledger: [LedgerEntry] = []
        public var milestones: [MilestoneRow] = []
        public var outbox: [OutboxRow] = []
        /// Consent changes with where they came from, appended to `consent_log`.
        public var consentChanges: [ConsentChange] = []
        /// Accounts that asked to leave (false) or rejoin (true) the leaderboards, in order.
        public var rankingChanges: [(account: UInt32, ranked: Bool)] = []
        /// Ranking changes decided in this segment.
        public var rankEvents: [RankEvent] = []
        /// The window's full membership after the segment's last evaluation (nil: none
        /// in this segment): (threshold, account, entered, out of range since).
        public var rankMembers: [(threshold: Int, account: UInt32, enteredUS: Int64, outSinceUS: Int64?)]?
        /// Counter increments (bucket, account, counter, amount), in key order.
        public var counters: [(bucket: Int64, account: UInt32, counter: UInt16, amount: Int64)] = []
        /// Net XP of the segment's ledger entries per (hour, account), for the ranking
        /// windows (`daily` is always false: the writer rolls finished days up). In key order.
        public var xpBuckets: [(bucket: Int64, account: UInt32, daily: Bool, amount: Int64)] = []
        /// A shadow pack's ledger entries and would-be milestones.
        public var shadowLedger: [LedgerEntry] = []
        public var shadowMilestones: [MilestoneRow] = []

        public init() {}

        /// Whether the segment holds no rows (its barriers aside).
        public var hasNoRows: Bool {
            ledger.isEmpty && milestones.isEmpty && outbox.isEmpty && consentChanges.isEmpty && rankingChanges.isEmpty
                && rankEvents.isEmpty && rankMembers == nil && counters.isEmpty && xpBuckets.isEmpty && shadowLedger.isEmpty
                && shadowMilestones.isEmpty
        }

        /// Whether the segment changes nothing.
        public var isEmpty: Bool { barriers.isEmpty && hasNoRows }
    }

    public var collections: [(Int, String)] = []
    public var rules: [(Int, PluginContext.RuleInfo)] = []
    public var counterNames: [(Int, String)] = []
    /// Texts of the non-TID record keys the ledger and grants rows refer to.
    public var rkeyTexts: [UInt64: String] = [:]
    /// The batch's rows and barriers, in event order.
    public var segments: [Segment] = []
    public var accounts: [AccountRow] = []
    /// Sorted by (rkey, account, collection): the grants table's key order.
    public var grants: [GrantRow] = []
    /// Rule limits changed in this batch with their final value (nil: forget it).
    public var limits: [(key: LimitKey, value: Int64?)] = []
    /// A partitioned host's part of the ranking feed (``RankFeedRow``).
    public var rankFeed: [RankFeedRow] = []
    /// The newest ranking boundary this partition crossed in the batch: every row up to
    /// it is published once the batch commits.
    public var rankPublishedUS: Int64?
    /// Ranking changes decided from every partition's feed.
    public var rankDecision: RankDecision?
    /// A shadow pack's changed totals (nil: the account's shadow totals were purged).
    public var shadowTotals: [(account: UInt32, totals: ShadowTotals?)] = []
    public var rankWindow = "day"
    /// Moderator commands applied in this batch, with what they did.
    public var commandsApplied: [(id: Int64, result: String)] = []
    /// Audit lines written with the batch.
    public var audits: [(actor: String, action: String, did: String?, detail: String)] = []
    /// Seasons that ended (with their grace) in this batch: their top `seasonArchiveTop`
    /// is archived once every partition has passed the end (docs/rankings.md, Seasons).
    public var seasonArchives: [Season] = []
    public var seasonArchiveTop = 10
    public var seasonGraceUS: Int64 = 0
    /// The season-end announcement for the archive's opted-in accounts (nil: none).
    public var seasonAnnouncement: String?
    /// The end of the last season this host has handed to its store (nil: unchanged).
    public var seasonsThroughUS: Int64?
    /// The cursor stored with the batch.
    public var cursorUS: Int64 = 0
    /// Events applied in the batch (for metrics).
    public var events = 0
    /// Monotonic receive time of the batch's oldest live frame (infinity for replays),
    /// for event→commit latency.
    public var oldestReceivedAt = Double.infinity

    public init() {}

    /// Whether the batch changes nothing at all.
    public var isEmpty: Bool {
        accounts.isEmpty && segments.allSatisfy(\.isEmpty) && collections.isEmpty && rules.isEmpty && counterNames.isEmpty
            && commandsApplied.isEmpty && limits.isEmpty && shadowTotals.isEmpty && rankFeed.isEmpty && rankDecision == nil
            && seasonArchives.isEmpty && seasonsThroughUS == nil
    }

    /// Every ledger entry of the batch, in event order.
    public var ledger: [LedgerEntry] { segments.flatMap(\.ledger) }
    /// Every outbox row of the batch, in event order.
    public var outbox: [OutboxRow] { segments.flatMap(\.outbox) }
    /// Every milestone of the batch, in event order.
    public var milestones: [MilestoneRow] { segments.flatMap(\.milestones) }
    /// Every rank event of the batch, in event order.
    public var rankEvents: [RankEvent] { segments.flatMap(\.rankEvents) }
    /// Every ledger entry count of the batch.
    public var ledgerCount: Int { segments.reduce(0) { $0 + $1.ledger.count } }
}
