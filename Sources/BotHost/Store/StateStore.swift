/// The store seam of a host: what the replayer, the live host and the batch writer need
/// from a database, whichever engine keeps it.
///
/// SQLite (``Store``) is the embedded default; the PostgreSQL store (module
/// `BotHostPostgres`) implements the same contract for hosts that share one database.
/// The contract is the batch: ``commit(_:)`` applies everything a batch changed (effects,
/// outbox rows, cursor) in one transaction or not at all, so a host killed at any point
/// resumes from a cursor that matches its state.
public protocol StateStore: AnyObject, Sendable {
    /// Where the state lives, for messages: a path, or a URL without its password.
    var location: String { get }
    /// Commits one batch in one transaction, with the cursor.
    func commit(_ batch: WriteBatch) throws
    /// The state the last committed batch left (the accounts this host owns), for
    /// ``PluginContext/restore(_:)``.
    func storedState(for request: StoredState.Request) throws -> StoredState
    /// Connects a restored context to what it reads from the store later (grants that
    /// left memory); nothing by default.
    func attachReaders(to context: PluginContext) throws
    /// The cursor this host stored with its last batch, in microseconds.
    func storedCursor() throws -> Int64?
    /// Moderator commands not yet applied, newer than `after` (advanced past them).
    func pendingCommandsOnce(after: inout Int64) throws -> [ModeratorCommand]
    /// A clear sentence for an error raised by this store.
    func describe(_ error: any Error) -> StoreError
    /// Called when a writer has committed its last batch (a store may report or
    /// checkpoint then); nothing by default.
    func finishWriting()
}

extension StateStore {
    public func finishWriting() {}
    public func attachReaders(to context: PluginContext) throws {}

    /// Fills a fresh context with the stored state: read once, restored once.
    public func load(into context: PluginContext) throws {
        context.restore(try storedState(for: context.storedStateRequest))
        try attachReaders(to: context)
    }
}


/// The per-account read side that the CLI's read commands and exports need, on either backend.
public protocol AccountReading {
    /// Every account, ordered by DID (bytewise), streamed.
    func forEachAccount(_ body: (AccountRecord) throws -> Void) throws
    /// An account by DID, or by handle (with or without a leading `@`).
    func account(_ didOrHandle: String) throws -> AccountRecord?
    /// The all-time leaderboard.
    func top(limit: Int) throws -> [AccountRecord]
    /// An account's newest ledger entries.
    func ledger(account id: Int64, limit: Int) throws -> [LedgerRecord]
}


/// What the HTTP API reads: a primary or a read replica of either backend.
public protocol StateReading: AccountReading, Sendable {
    /// How far the stored state goes (with partitions: the least advanced one).
    func readCursor() throws -> Int64?
    func leaderboard(window: RankingWindow, asOf: Int64, limit: Int) throws -> [RankedAccount]
    /// Net XP of event times in `(from, to]` (µs), ranked (a season's live board).
    func leaderboard(from: Int64, to: Int64, limit: Int) throws -> [RankedAccount]
    /// An ended season's archived top N (empty when not archived).
    func seasonArchive(_ name: String) throws -> [RankedAccount]
    /// The archived seasons, newest first.
    func archivedSeasons() throws -> [ArchivedSeason]
    func leaderboard(limit: Int) throws -> [RankedAccount]
    func status() throws -> StoreStatus
    func activityTotals(did: String) throws -> [(String, Int64)]
    func activity(did: String, hourly: Bool) throws -> [(Int64, [(String, Int64)])]
}

/// The moderators' read commands that are not per account.
public protocol ModerationReading {
    func rankEvents(limit: Int) throws -> [RankEventRecord]
    func auditLog(limit: Int) throws -> [AuditRecord]
}


/// The admin endpoints' writes: commands for the owning host, and exclusions.
public protocol ModerationWriting: Sendable {
    func account(_ didOrHandle: String) throws -> AccountRecord?
    func enqueue(_ kind: ModeratorCommand.Kind, did: String, amount: Int64, reason: String, actor: String) throws -> Int64
    /// Queues one import command per row in one transaction (all or none); returns their ids.
    func enqueueImport(_ rows: [AccountImportRow], reason: String, actor: String) throws -> [Int64]
    func setExcluded(_ didOrHandle: String, excluded: Bool, actor: String, reason: String) throws -> Bool
}


/// Which accounts a host owns when several hosts share one database: the accounts whose
/// DID hashes to `index` of `count` (`--partition K/N`, K counted from 0).
///
/// The shard key is FNV-1a (64-bit) of the DID's UTF-8 bytes shifted right by one (so it
/// fits a signed 64-bit column), and the owner is the key modulo `count`: stable across
/// versions and machines, so a partition's accounts never move while N stays the same.
public struct Partition: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// The single host that owns every account.
    public static let whole = Partition(uncheckedIndex: 0, count: 1)

    private init(uncheckedIndex index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// - Throws: `StoreError` unless `0 <= index < count`.
    public init(index: Int, count: Int) throws {
        guard count >= 1, index >= 0, index < count else {
            throw StoreError("partition \(index)/\(count): expected K/N with 0 <= K < N (K counted from 0)")
        }
        self.init(uncheckedIndex: index, count: count)
    }

    /// Parses `K/N`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw StoreError("partition \"\(text)\": expected K/N, e.g. 0/2 (K counted from 0)")
        }
        try self.init(index: index, count: count)
    }

    public var description: String { "\(index)/\(count)" }

    /// Whether there is more than one partition.
    public var isPartial: Bool { count > 1 }

    /// The cursor source of this partition: each partition keeps its own cursor.
    public var cursorSource: String { count == 1 ? "jetstream" : "jetstream/\(index)-of-\(count)" }

    /// Whether this partition owns the account `did`.
    @inline(__always)
    public func owns<Bytes: Collection<UInt8>>(did bytes: Bytes) -> Bool {
        guard count > 1 else { return true }
        return Int(UInt64(Self.shardKey(bytes)) % UInt64(count)) == index
    }

    /// The DID's shard key (non-negative), stored with the account so a database can
    /// select one partition's rows (`shard_key % N = K`).
    @inline(__always)
    public static func shardKey<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int64 {
        Int64(bitPattern: hash(bytes) >> 1)
    }

    public func owns(did: String) -> Bool { owns(did: Array(did.utf8)) }

    /// FNV-1a, 64-bit.
    @inline(__always)
    public static func hash<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt64 { FNV1a.hash(bytes) }
}

/// Everything a store of either backend answers: the host's writes, the readers of the
/// HTTP API and the CLI, the moderators' writes, the outbox. The CLI opens a store as
/// this type and runs every command on it, whichever backend the URL names.
public typealias BotHostStore = StateStore & StateReading & ModerationReading & ModerationWriting & OutboxStore & ProfileStore & LabelStore
    & OutboxModeration & ShadowReading
