/// Rankings across partitions (docs/scaling.md, "Who answers what").
///
/// A partitioned host applies only its own accounts' events, so no host sees every
/// account's XP. Each host therefore *publishes* what its accounts contribute to the
/// ranking window, stamped with the stream-time boundary before which it was applied,
/// and every host *decides* a boundary from every partition's rows once all partitions
/// have published it. The decision is a pure function of the rows, so any host may make
/// it, any number of times: the rows it writes are keyed and written once.

/// What a partition publishes: its accounts' net XP per hour applied before a boundary,
/// their eligibility as of the boundary when it changed, and a marker for each boundary
/// at which the ranks are evaluated (the stream passed it).
public struct RankFeedRow: Sendable, Equatable {
    public enum Kind: Int16, Sendable {
        case marker = 0
        case xp = 1
        case flags = 2
    }
    public var boundaryUS: Int64
    public var kind: Kind
    /// Host id of the account (0 for a marker).
    public var account: UInt32
    /// The hour (unix seconds) of the XP; 0 for flags and markers.
    public var hour: Int64
    /// Net XP, or the ``RankFlags`` bits.
    public var value: Int64

    public init(boundaryUS: Int64, kind: Kind, account: UInt32, hour: Int64, value: Int64) {
        self.boundaryUS = boundaryUS
        self.kind = kind
        self.account = account
        self.hour = hour
        self.value = value
    }
}

/// What the decision reads of an account besides its XP, as of a boundary.
public struct RankFlags: OptionSet, Sendable {
    public let rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    /// Not active (`account` events): not ranked, not announced.
    public static let inactive = RankFlags(rawValue: 1)
    /// Off the boards: its own `no rank` or a moderator's exclusion.
    public static let unranked = RankFlags(rawValue: 2)
    /// Opted in or no-ping: an entry is announced.
    public static let announce = RankFlags(rawValue: 4)
    /// Opted in: the announcement mentions it.
    public static let mention = RankFlags(rawValue: 8)
}

/// A published row as read back, with the account by the store's id (host ids are per
/// host; ``RankFeedSource/accounts(ids:)`` names them).
public struct RankFeedEntry: Sendable {
    public var boundaryUS: Int64
    public var kind: RankFeedRow.Kind
    public var account: Int64
    public var hour: Int64
    public var value: Int64

    public init(boundaryUS: Int64, kind: RankFeedRow.Kind, account: Int64, hour: Int64, value: Int64) {
        self.boundaryUS = boundaryUS
        self.kind = kind
        self.account = account
        self.hour = hour
        self.value = value
    }
}

/// The shared decision state: through which boundary the ranks are decided, and the
/// membership (with hysteresis) after it.
public struct RankDecisionState: Sendable {
    public var decidedUS: Int64
    public var members: [(threshold: Int, did: String, enteredUS: Int64, outSinceUS: Int64?)]

    public init(decidedUS: Int64, members: [(threshold: Int, did: String, enteredUS: Int64, outSinceUS: Int64?)]) {
        self.decidedUS = decidedUS
        self.members = members
    }

    /// One member per line: threshold, DID, entered, out-since (empty: in range).
    public var encodedMembers: String {
        members.map { "\($0.threshold)\t\($0.did)\t\($0.enteredUS)\t\($0.outSinceUS.map(String.init) ?? "")" }.joined(separator: "\n")
    }

    public static func decodeMembers(_ text: String) -> [(threshold: Int, did: String, enteredUS: Int64, outSinceUS: Int64?)] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 4, let threshold = Int(fields[0]), let entered = Int64(fields[2]) else { return nil }
            return (threshold, String(fields[1]), entered, Int64(fields[3]))
        }
    }
}

/// Where a partitioned host reads the feed (the store, on a connection of its own).
public protocol RankFeedSource: AnyObject {
    /// The newest boundary every one of `partitions` has published, and the decision
    /// state as stored (nil: some partition has published nothing yet).
    func progress(window: String, partitions: Int) throws -> (publishedUS: Int64?, decidedUS: Int64)
    /// The decision state as stored, with the rows it rests on: every XP row of its
    /// window and each account's latest flags, up to its boundary.
    func decisionState(window: String, windowSeconds: Int64) throws -> (RankDecisionState, [RankFeedEntry])
    /// The rows stamped after `after` up to `through`, by boundary, markers last.
    func feed(window: String, after: Int64, through: Int64) throws -> [RankFeedEntry]
    /// The DIDs of store account ids (those the host has not met yet).
    func accounts(ids: [Int64]) throws -> [(id: Int64, did: String)]
    /// The handles of store account ids, as their owners stored them.
    func handles(ids: [Int64]) throws -> [Int64: String]
}

/// Ranking changes decided from the feed, for every account: stored keyed, so two hosts
/// deciding the same boundary write the same rows once.
public struct RankDecision: Sendable {
    public struct Change: Sendable {
        public var did: String
        public var event: RankEvent
    }
    public struct Announcement: Sendable {
        public var key: String
        public var did: String
        public var payload: String
        public var createdUS: Int64
    }
    public var state: RankDecisionState
    public var changes: [Change] = []
    public var announcements: [Announcement] = []
    /// XP rows of hours before this one are no longer read by anyone (nil: keep).
    public var pruneBeforeHour: Int64?
}
