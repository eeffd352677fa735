import BotHost
import GRDB
import GRDBSQLite
import XRPCClient

extension StoreError {
    /// A clear sentence for an error raised while writing a batch.
    public static func describing(_ error: any Error, path: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_FULL:
                return StoreError("\(path): the disk is full. Every batch committed before this one is intact; free space and run again to continue from the stored cursor")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StoreError("\(path) is locked by another process; stop it or use another --db")
            case .SQLITE_IOERR:
                return StoreError("\(path): I/O error (\(error.message ?? "disk")); committed batches are intact")
            default:
                return StoreError("\(path): \(error.message ?? "\(error)")")
            }
        }
        return StoreError("\(path): \(error)")
    }
}

/// The SQLite store (GRDB over the system libsqlite3, WAL).
///
/// One connection writes: the host's writer applies whole batches, each in one
/// transaction carrying the effects, the outbox rows and the cursor. Readers (the
/// CLI, while a host runs) open their own connections and see committed batches only.
public final class Store: Sendable {
    /// The database file.
    public let path: String
    let queue: DatabaseQueue

    /// Opens (creating if needed) and migrates the database at `path`.
    ///
    /// - Parameters:
    ///   - readOnly: open for reading only (CLI queries); no migration.
    ///   - busyTimeout: seconds to wait for another process's lock before giving up.
    ///   - maxPageCount: a cap on the file's size in pages (tests use it to run out of
    ///     space the way a full disk does: SQLite answers `SQLITE_FULL` either way).
    /// - Throws: `StoreError` when the file is not a database, is locked, or is newer
    ///   than this binary.
    public init(path: String, readOnly: Bool = false, busyTimeout: Double = 5, maxPageCount: Int? = nil) throws {
        self.path = path
        var config = Configuration()
        config.readonly = readOnly
        config.journalMode = readOnly ? .default : .wal
        config.busyMode = .timeout(busyTimeout)
        config.prepareDatabase { db in
            if let maxPageCount { try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)") }
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // Checkpoint every ~256 MB of WAL instead of 4 MB: a page rewritten by
                // several batches is copied to the database once, not once per batch.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 65536")
            }
            // A 32 MB page cache keeps the hot pages (the grants and ledger ends, the totals) in memory.
            try db.execute(sql: "PRAGMA cache_size = -32768")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            if !readOnly {
                let migrator = StoreMigrations.migrator
                try queue.write { db in
                    if try migrator.hasBeenSuperseded(db) {
                        throw StoreError("\(path) was written by a newer BotHost (unknown schema migrations); refusing to open it")
                    }
                }
                try migrator.migrate(queue)
            } else {
                let complete = try queue.read { db in try StoreMigrations.migrator.hasCompletedMigrations(db) }
                if !complete {
                    // An older database: migrate it once through a writable connection (what a
                    // host of this version would do on start), then read it as asked.
                    var writable = Configuration()
                    writable.journalMode = .wal
                    writable.busyMode = .timeout(busyTimeout)
                    let upgrade = try DatabaseQueue(path: path, configuration: writable)
                    try StoreMigrations.migrator.migrate(upgrade)
                    try upgrade.close()
                }
            }
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            switch error.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                throw StoreError("\(path) is not a BotHost database or is corrupt (\(error.message ?? "SQLite error"))")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                throw StoreError("\(path) is locked by another process; stop it or use another --db")
            case .SQLITE_FULL:
                throw StoreError("\(path): the disk is full; free space and start again")
            case .SQLITE_CANTOPEN:
                throw StoreError("cannot open \(path): \(error.message ?? "no such file or directory")")
            default:
                throw StoreError("\(path): \(error.message ?? "\(error)")")
            }
        }
    }

    /// The stored cursor of `source`, in microseconds.
    public func cursor(source: String = "jetstream") throws -> Int64? {
        try queue.read { db in try Int64.fetchOne(db, sql: "SELECT time_us FROM cursor WHERE source = ?", arguments: [source]) }
    }

    /// Runs a read-only closure on the store's connection.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try queue.read(body)
    }
}

extension Store {
    /// The stored state in host ids (= this database's ids; a gap in the ids, left by a
    /// rolled-back insert, becomes a placeholder).
    public func storedState(for request: StoredState.Request) throws -> StoredState {
        var stored = StoredState()
        try queue.read { db in
            for row in try Row.fetchAll(db, sql: "SELECT id, nsid FROM collections ORDER BY id") {
                let id: Int = row[0]
                while stored.collections.count < id { stored.collections.append("(gap)\(stored.collections.count)") }
                stored.collections.append(row[1])
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, plugin, rule, version FROM rules ORDER BY id") {
                let id: Int = row[0]
                while stored.rules.count < id { stored.rules.append(.init(plugin: "", rule: "", version: "")) }
                stored.rules.append(.init(plugin: row[1], rule: row[2], version: row[3]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, name FROM counter_names ORDER BY id") {
                let id: Int = row[0]
                while stored.counterNames.count < id { stored.counterNames.append("(gap)\(stored.counterNames.count)") }
                stored.counterNames.append(row[1])
            }
            let statement = try db.makeStatement(sql: """
                SELECT a.id, a.did, a.handle, a.handle_time_us, a.status, a.status_time_us, a.consent,
                       t.last_rev, t.xp, t.level, t.max_level, t.last_ledger_id, a.purged_us,
                       t.last_op, t.more_ops, a.last_seq
                FROM accounts a JOIN totals t ON t.account_id = a.id ORDER BY a.id
                """)
            let cursor = try Row.fetchCursor(statement)
            while let row = try cursor.next() {
                let id: Int = row[0]
                while stored.accounts.count < id {
                    stored.accounts.append(.init(did: "(gap)\(stored.accounts.count)", handle: nil, status: "active", state: AccountState()))
                }
                var state = AccountState()
                state.handleTimeUS = row[3]
                state.statusTimeUS = row[5]
                state.consent = Consent(name: row[6]) ?? .none
                var nonTIDRev: String?
                let rev: DatabaseValue = row[7]
                if case .int64(let int) = rev.storage {
                    state.lastRev = UInt64(int)
                } else if let text = String.fromDatabaseValue(rev) {
                    nonTIDRev = text
                }
                state.xp = row[8]
                state.level = row[9]
                state.maxLevel = row[10]
                state.lastLedgerID = row[11]
                state.purged = (row[12] as Int64) != 0
                state.lastOp = UInt64(bitPattern: row[13] as Int64)
                state.lastSeq = row[15]
                stored.accounts.append(.init(did: row[1], handle: row[2], status: row[4], state: state,
                                             nonTIDRev: nonTIDRev, moreOps: StoredState.parseOps(row[14])))
            }
            // Only the hot window's grants come back into memory; older ones are read from
            // the store when an event needs them (PluginContext+Grants.swift).
            let cursorUS = try Int64.fetchOne(db, sql: "SELECT time_us FROM cursor WHERE source = 'jetstream'") ?? 0
            stored.cursorUS = cursorUS
            stored.seasonsThroughUS = try String.fetchOne(db, sql: "SELECT value FROM bot_state WHERE key = 'seasons_through'").flatMap { Int64($0) }
            stored.coldBelowTID = StoredState.coldFloor(cursorUS: cursorUS, horizonUS: request.hotGrantHorizonUS)
            let grants = try Row.fetchCursor(db, sql: "SELECT rkey, account_id, collection_id, amount, tag, rule_id FROM grants WHERE rkey >= ?",
                                             arguments: [Int64(stored.coldBelowTID)])
            while let row = try grants.next() {
                let rkeyValue: DatabaseValue = row[0]
                var rkey: UInt64 = 0
                var rkeyText: String?
                if case let .int64(int) = rkeyValue.storage { rkey = UInt64(int) } else { rkeyText = String.fromDatabaseValue(rkeyValue) ?? "" }
                guard let collection = UInt16(exactly: row[2] as Int64) else { continue }
                stored.grants.append(.init(account: UInt32(row[1] as Int64), collection: collection, rkey: rkey, rkeyText: rkeyText,
                                           grant: Grant(amount: Int32(row[3] as Int64), tag: UInt8(row[4] as Int64), rule: UInt16(row[5] as Int64))))
            }
            for row in try Row.fetchAll(db, sql: "SELECT account_id, slot, kind, key, value FROM rule_limits") {
                guard let kind = LimitKind(rawValue: UInt8(row[2] as Int64)) else { continue }
                stored.limits.append((LimitKey(account: UInt32(row[0] as Int64), slot: UInt16(row[1] as Int64), kind: kind, key: row[3]), row[4]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT account_id, xp, level, max_level FROM shadow_totals") {
                stored.shadow.append((UInt32(row[0] as Int64), ShadowTotals(xp: row[1], level: row[2], maxLevel: row[3])))
            }
            stored.nextLedgerID = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM ledger") ?? 0) + 1
            if let window = request.rankWindow, cursorUS > 0 { stored.ranks = try Self.storedRanks(window, cursorUS: cursorUS, db) }
        }
        return stored
    }

    /// Evicted grants are read back through a connection of their own.
    public func attachReaders(to context: PluginContext) throws {
        if context.residency.hotGrantHorizonUS > 0 { context.residency.coldGrants = try ColdGrantReader(path: path) }
    }

    /// The rank tracker's state: the watched window's hour buckets, the members of each
    /// top N, and the accounts off the boards.
    private static func storedRanks(_ window: (name: String, seconds: Int64), cursorUS: Int64, _ db: Database) throws -> StoredState.Ranks {
        var ranks = StoredState.Ranks()
        let first = StoredState.firstRankHour(cursorUS: cursorUS, windowSeconds: window.seconds)
        for row in try Row.fetchAll(db, sql: "SELECT bucket, account_id, xp FROM xp_hourly WHERE bucket >= ? ORDER BY bucket",
                                    arguments: [first]) {
            ranks.hourly.append((row[0], UInt32(row[1] as Int64), row[2]))
        }
        for row in try Row.fetchAll(db, sql: "SELECT threshold, account_id, entered_us, out_since_us FROM rank_members WHERE window = ?",
                                    arguments: [window.name]) {
            ranks.members.append((row[0], UInt32(row[1] as Int64), row[2], row[3]))
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, unranked, excluded FROM accounts WHERE unranked != 0 OR excluded != 0") {
            if (row[1] as Int64) != 0 { ranks.unranked.append(UInt32(row[0] as Int64)) }
            if (row[2] as Int64) != 0 { ranks.excluded.append(UInt32(row[0] as Int64)) }
        }
        return ranks
    }
}
