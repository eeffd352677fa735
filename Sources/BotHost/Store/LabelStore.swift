// The labeler's part of a store (docs/labels.md): signed labels in one sequence, and the
// label each account carries now. Both stores implement it (SQLite, PostgreSQL).

/// A label as stored and served: its place in the labeler's sequence and its signed fields.
/// The signature covers every field but `seq`, so a stored label is served byte for byte
/// as it was issued, however often it is replayed.
public struct StoredLabel: Sendable, Equatable {
    /// The position in the sequence `subscribeLabels` replays from (1, 2, …; never reused).
    public var seq: Int64
    public var src: String
    /// The subject: an account's DID.
    public var uri: String
    public var val: String
    public var neg: Bool
    public var cts: String
    public var exp: String?
    /// The 64-byte compact signature.
    public var sig: [UInt8]

    public init(seq: Int64 = 0, src: String, uri: String, val: String, neg: Bool, cts: String, exp: String? = nil, sig: [UInt8]) {
        self.seq = seq; self.src = src; self.uri = uri; self.val = val; self.neg = neg; self.cts = cts; self.exp = exp; self.sig = sig
    }
}

/// An account the labeler decides for.
public struct LabelSubject: Sendable, Equatable {
    public var did: String
    public var level: Int
    /// Opted in (with or without mentions), active, not excluded and not purged: only then
    /// may it carry a label. Consent first: everyone else carries none.
    public var eligible: Bool
    /// The label value it carries now, and that label's expiry.
    public var current: String?
    public var currentExp: String?

    public init(did: String, level: Int, eligible: Bool, current: String? = nil, currentExp: String? = nil) {
        self.did = did; self.level = level; self.eligible = eligible; self.current = current; self.currentExp = currentExp
    }
}

/// Which labels `queryLabels` returns (`com.atproto.label.queryLabels`).
public struct LabelQuery: Sendable, Equatable {
    /// Subjects: a full URI, or a prefix ending in `*` (`*` alone: every subject).
    public var uriPatterns: [String]
    /// Labeler DIDs; empty: any.
    public var sources: [String] = []
    /// Labels after this sequence number.
    public var after: Int64 = 0
    public var limit: Int = 50

    public init(uriPatterns: [String], sources: [String] = [], after: Int64 = 0, limit: Int = 50) {
        self.uriPatterns = uriPatterns; self.sources = sources; self.after = after; self.limit = limit
    }
}

/// Reading the labels: what `bothost serve` needs (works on a read-only connection).
public protocol LabelReading: Sendable {
    /// Labels with `seq > after`, ascending, at most `limit`.
    func labels(after: Int64, limit: Int) throws -> [StoredLabel]
    /// Labels matching the query, ascending by `seq`.
    func queryLabels(_ query: LabelQuery) throws -> [StoredLabel]
    /// Where the sequence stands: a cursor beyond `last` is in the future, one below
    /// `prunedThrough` missed labels that are gone.
    func labelSequence() throws -> LabelSequence
}

/// The sequence's bounds.
public struct LabelSequence: Sendable, Equatable {
    /// The highest sequence number issued (0: none yet).
    public var last: Int64
    /// The highest sequence number pruned (0: none).
    public var prunedThrough: Int64

    public init(last: Int64, prunedThrough: Int64) { self.last = last; self.prunedThrough = prunedThrough }
}

/// Issuing labels: one exclusive write transaction per pass.
public protocol LabelStore: LabelReading {
    /// Reads every subject (accounts that may carry a label at `minimumLevel` or above, and
    /// every account that carries one), appends what `decide` returns with the next
    /// sequence numbers (in the order given), and records each subject's current label:
    /// a label sets it, a negation of the current value clears it. All in one transaction,
    /// exclusive among hosts sharing the store, so a change is labeled exactly once.
    @discardableResult
    func issueLabels(minimumLevel: Int, _ decide: ([LabelSubject]) throws -> [StoredLabel]) throws -> [StoredLabel]
    /// Deletes the labels created before `cts` except those subjects carry now (a label
    /// and its negation, a renewed label's older copy go); returns how many went.
    /// Consumers whose cursor is below the pruned numbers are told (`#info OutdatedCursor`).
    func pruneLabels(before cts: String) throws -> Int
}

extension LabelQuery {
    /// Patterns and sources a query may carry, and their length in characters: enough for
    /// any DID or record URI, and a request head that stays small (docs/openapi.yaml).
    public static let maxItems = 10
    public static let maxItemLength = 256

    /// The query's limits: `limit` 1–250 (the lexicon's), `*` only at the end of a pattern,
    /// at most ``maxItems`` patterns and sources of at most ``maxItemLength`` characters.
    public static func validate(patterns: [String], sources: [String] = [], limit: Int) -> String? {
        if patterns.isEmpty { return "uriPatterns is required" }
        if patterns.count > maxItems { return "at most \(maxItems) uriPatterns" }
        if sources.count > maxItems { return "at most \(maxItems) sources" }
        for item in patterns + sources where item.unicodeScalars.count > maxItemLength {
            return "uriPatterns and sources have at most \(maxItemLength) characters each"
        }
        for pattern in patterns where pattern.dropLast().contains("*") {
            return "invalid pattern: \(pattern.prefix(100)) (a * may only end a pattern)"
        }
        if !(1...250).contains(limit) { return "limit must be between 1 and 250" }
        return nil
    }
}
