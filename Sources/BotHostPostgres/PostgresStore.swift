import BotHost
import Logging
import NIOCore
import Foundation
import PostgresNIO
import Synchronization

/// The PostgreSQL store: the same contract as the SQLite ``Store`` (one transaction per
/// batch with its cursor), for hosts that share one database.
///
/// Every host applies the whole stream in memory (so what one account's rules read of
/// another's is exact) and writes the rows of the accounts its ``Partition`` owns, with a
/// cursor of its own. One host is partition 0/1 and owns everything.
///
/// Writes map each array of a ``WriteBatch`` to one statement over `UNNEST`-ed arrays
/// (no statement per row, no ORM); the ledger, the largest append, goes in with `COPY`.
public final class PostgresStore: StateStore, @unchecked Sendable {
    public let url: PostgresURL
    public let partition: Partition
    /// The writer's connection (the batch writer's thread, or the CLI's).
    package let session: PGSession
    /// Host ids to database ids.
    let ids = IDMap()
    /// Serializes use of `session` (the writer thread and a CLI caller never overlap, but
    /// commands are polled from the applying thread).
    package let lock = Mutex(())
    /// The applying thread's connection for command polls (opened on first use).
    let poll = Mutex<PGSession?>(nil)
    /// This store's dispatcher, as named in outbox claims.
    let dispatcherID = "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)/\(UUID().uuidString.prefix(8))"
    /// Replies of the batch's statements sent without waiting; the writer's only.
    var pending: [EventLoopFuture<PostgresQueryResult>] = []
    /// The current batch's accounts to database ids (0: another partition's); the writer's only.
    var accountMap: [UInt32: Int64] = [:]

    public var location: String { url.redacted }

    /// Connects and brings the schema up to date (unless `readOnly`).
    ///
    /// - Throws: `StoreError` when the server cannot be reached, the database is newer
    ///   than this binary, or a migration fails.
    /// How long a dispatcher's claim on an outbox message holds (µs); renewed while a send is
    /// in flight. Shorter only in tests of a lease running out mid-send.
    public let leaseUS: Int64

    public init(url: PostgresURL, partition: Partition = .whole, readOnly: Bool = false, leaseUS: Int64 = 30_000_000) throws {
        self.url = url
        self.partition = partition
        self.leaseUS = leaseUS
        session = try PGSession(url)
        if !readOnly { try migrate() } else { try checkVersion() }
    }

    /// Opens `text` (`postgres://…`), reading the password from `PGPASSWORD` when the URL has none.
    public convenience init(_ text: String, partition: Partition = .whole, readOnly: Bool = false,
                            environment: [String: String] = [:], leaseUS: Int64 = 30_000_000) throws {
        try self.init(url: PostgresURL(text, environment: environment), partition: partition, readOnly: readOnly, leaseUS: leaseUS)
    }

    /// Applies the schema steps not yet applied, under an advisory lock so hosts that start
    /// together migrate once.
    private func migrate() throws {
        do {
            try session.transaction {
                try session.query("SELECT pg_advisory_xact_lock(4242424242)")
                try session.execute("CREATE TABLE IF NOT EXISTS bothost_schema(version integer PRIMARY KEY, name text NOT NULL, applied_us bigint NOT NULL)")
                let applied = try session.query("SELECT version FROM bothost_schema").map { try $0.decode(Int.self) }
                let known = Set(PostgresSchema.steps.map(\.version))
                if let unknown = applied.first(where: { !known.contains($0) }) {
                    throw StoreError("\(url.redacted) was written by a newer BotHost (schema step \(unknown) is unknown here); refusing to open it")
                }
                for step in PostgresSchema.steps where !applied.contains(step.version) {
                    try session.execute(step.sql)
                    try session.query("INSERT INTO bothost_schema(version, name, applied_us) VALUES (\(step.version), \(step.name), \(Clock.nowMicroseconds()))")
                }
            }
        } catch {
            throw describe(error)
        }
    }

    private func checkVersion() throws {
        do {
            let applied = try session.query("SELECT max(version) FROM bothost_schema").first?.decode(Int?.self) ?? nil
            guard let applied else { throw StoreError("\(url.redacted) has no BotHost schema yet; run a host or `bothost migrate` first") }
            if applied > PostgresSchema.steps.last!.version {
                throw StoreError("\(url.redacted) was written by a newer BotHost (schema step \(applied)); refusing to read it")
            }
        } catch {
            throw describe(error)
        }
    }

    public func describe(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] {
            switch state {
            case "53100": return StoreError("\(url.redacted): the server's disk is full; every batch committed before this one is intact")
            case "40P01", "40001": return StoreError("\(url.redacted): the transaction was aborted by a conflict (\(PGSession.message(error))); run again to continue from the stored cursor")
            default: break
            }
        }
        return StoreError("\(url.redacted): \(PGSession.message(error))")
    }

    public func storedCursor() throws -> Int64? {
        try cursor(source: partition.cursorSource)
    }

    /// The stored cursor of `source` (`jetstream`, or `jetstream/K-of-N` for a partition).
    public func cursor(source: String) throws -> Int64? {
        try lock.withLock { _ in
            try session.query("SELECT time_us FROM cursor WHERE source = \(source)").first?.decode(Int64.self)
        }
    }

    /// Every partition's cursor, by source.
    public func cursors() throws -> [(source: String, timeUS: Int64)] {
        try lock.withLock { _ in
            try session.query("SELECT source, time_us FROM cursor ORDER BY source").map { row in
                let (source, time) = try row.decode((String, Int64).self)
                return (source, time)
            }
        }
    }

    public func pendingCommandsOnce(after: inout Int64) throws -> [ModeratorCommand] {
        let floor = after
        // Polled by the applying thread at every batch boundary: on a connection of its
        // own, so it never waits for the writer's transaction.
        let rows = try poll.withLock { poll in
            if poll == nil { poll = try PGSession(url) }
            return try poll!.query("SELECT id, kind, did, amount, reason, actor FROM commands WHERE state = 'pending' AND id > \(floor) ORDER BY id")
        }
        var commands: [ModeratorCommand] = []
        for row in rows {
            let (id, kind, did, amount, reason, actor) = try row.decode((Int64, String, String, Int64, String, String).self)
            after = max(after, id)
            // A command is its account's owner's to apply.
            guard let kind = ModeratorCommand.Kind(rawValue: kind), partition.owns(did: did) else { continue }
            commands.append(ModeratorCommand(id: id, kind: kind, did: did, amount: amount, reason: reason, actor: actor))
        }
        return commands
    }
}

/// A host's in-memory ids (dense, in the order it met them) mapped to the database's.
///
/// Written by the batch writer as new accounts, collections, rules and counters are
/// committed; read by the cold-grant reader on the applying thread.
final class IDMap: Sendable {
    struct State {
        /// Account: database id; 0 unknown; -1 another partition's account.
        var accounts: [Int64] = []
        var collections: [Int64] = []
        var rules: [Int64] = []
        var counters: [Int64] = []
        /// Database rule id to the host's (cold grants carry the database's).
        var rulesBack: [Int64: UInt16] = [:]
    }
    let state = Mutex(State())

    static func set(_ array: inout [Int64], _ index: Int, _ value: Int64) {
        if index >= array.count { array.append(contentsOf: repeatElement(0, count: index - array.count + 1)) }
        array[index] = value
    }

    static func get(_ array: [Int64], _ index: Int) -> Int64 {
        index < array.count ? array[index] : 0
    }
}

/// Server-level chores: tests and `bothost migrate` create databases.
public enum PostgresAdmin {
    /// Drops and creates `name` on the server of `serverURL` (connecting to its
    /// `postgres` database); returns the new database's URL.
    public static func recreateDatabase(serverURL: String, name: String, environment: [String: String] = [:]) throws -> String {
        var url = try PostgresURL(serverURL, environment: environment)
        let target = url
        url.database = "postgres"
        let session = try PGSession(url)
        let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        do {
            try session.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoted)"))
            try session.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoted)"))
        } catch {
            throw StoreError("\(url.redacted): \(PGSession.message(error))")
        }
        var result = target
        result.database = name
        return result.urlWithPassword
    }
}

extension PostgresStore {
    /// Runs SQL on the store's connection (tests use it to set up what they check).
    public func executeForTests(_ sql: String) throws {
        try lock.withLock { _ in try session.execute(sql) }
    }

    /// The first column of every row of a query, as text (tests compare stored rows).
    public func textRowsForTests(_ sql: String) throws -> [String] {
        try lock.withLock { _ in try session.query(PostgresQuery(unsafeSQL: sql)).map { try $0.decode(String.self) } }
    }
}

extension PostgresStore {
    /// Takes this partition for this host: a session advisory lock on the writer's
    /// connection, held until the host exits (or dies: the server drops it with the
    /// connection). A second host for the same K/N is refused, as a second host on one
    /// SQLite file is: both would apply the same accounts' batches.
    public func claimPartition() throws {
        let key = Int64(0x626F_7400_0000) + Int64(partition.count) * 65_536 + Int64(partition.index)
        let taken = try lock.withLock { _ in
            try session.query("SELECT pg_try_advisory_lock(\(key))").first!.decode(Bool.self)
        }
        guard taken else {
            throw StoreError("\(url.redacted): partition \(partition) is held by another running host; stop it first (docs/scaling.md, failover)")
        }
    }
}
