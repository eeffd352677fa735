import GRDB
import GRDBSQLite
import XRPCClient

extension Store {
    /// Applies one batch in a single IMMEDIATE transaction: accounts, grants, ledger,
    /// milestones, outbox and the cursor commit together or not at all.
    ///
    /// Statements are prepared once per connection (GRDB's statement cache) and bound
    /// through the SQLite C API directly, which avoids building a `StatementArguments`
    /// array per row.
    /// - Throws: `DatabaseError` (the transaction is rolled back).
    public func write(_ batch: WriteBatch, source: String = "jetstream") throws {
        try queue.inTransaction(.immediate) { db in
            try Self.apply(batch, source: source, db: db)
            return .commit
        }
    }

    static func apply(_ batch: WriteBatch, source: String, db: Database) throws {
        var t = Clock.monotonicSeconds()
        func lap(_ name: Int) {
            guard WriteProfile.enabled else { return }
            let now = Clock.monotonicSeconds()
            WriteProfile.add(name, now - t)
            t = now
        }
        defer { lap(5) }
        for (id, nsid) in batch.collections {
            let s = try RawStatement(db, "INSERT OR IGNORE INTO collections(id, nsid) VALUES (?, ?)")
            s.bind(1, Int64(id)); s.bind(2, nsid)
            try s.run(db)
        }
        for (id, rule) in batch.rules {
            let s = try RawStatement(db, "INSERT OR IGNORE INTO rules(id, plugin, rule, version) VALUES (?, ?, ?, ?)")
            s.bind(1, Int64(id)); s.bind(2, rule.plugin); s.bind(3, rule.rule); s.bind(4, rule.version)
            try s.run(db)
        }
        let insertAccount = try RawStatement(db, """
            INSERT INTO accounts(handle, handle_time_us, status, status_time_us, consent, id, did) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let updateAccount = try RawStatement(db, """
            UPDATE accounts SET handle = ?, handle_time_us = ?, status = ?, status_time_us = ?, consent = ? WHERE id = ?
            """)
        let insertTotals = try RawStatement(db, """
            INSERT INTO totals(last_rev, xp, level, max_level, last_ledger_id, account_id) VALUES (?, ?, ?, ?, ?, ?)
            """)
        let updateTotals = try RawStatement(db, """
            UPDATE totals SET last_rev = ?, xp = ?, level = ?, max_level = ?, last_ledger_id = ? WHERE account_id = ?
            """)
        for row in batch.accounts {
            let id = Int64(row.id)
            if row.did != nil || row.profileChanged {
                let s = row.did == nil ? updateAccount : insertAccount
                s.bind(1, row.handle)
                s.bind(2, row.handleTimeUS)
                s.bind(3, row.status)
                s.bind(4, row.statusTimeUS)
                s.bind(5, row.consent.name)
                s.bind(6, id)
                if let did = row.did { s.bind(7, did) }
                try s.run(db)
            }
            let s = row.did == nil ? updateTotals : insertTotals
            switch row.lastRev {
            case nil: s.bindNull(1)
            case let .tid(value)?: s.bind(1, value)
            case let .text(text)?: s.bind(1, text)
            }
            s.bind(2, row.xp)
            s.bind(3, Int64(row.level))
            s.bind(4, Int64(row.maxLevel))
            s.bind(5, row.lastLedgerID)
            s.bind(6, id)
            try s.run(db)
        }
        lap(0)
        let upsertGrant = try RawStatement(db, """
            INSERT INTO grants(rkey, account_id, collection_id, amount, tag, rule_id) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(rkey, account_id, collection_id) DO UPDATE SET amount = excluded.amount, tag = excluded.tag, rule_id = excluded.rule_id
            """)
        let deleteGrant = try RawStatement(db, "DELETE FROM grants WHERE rkey = ? AND account_id = ? AND collection_id = ?")
        for row in batch.grants {
            let s = row.grant == nil ? deleteGrant : upsertGrant
            bindRKey(s, 1, row.key.rkey, batch)
            s.bind(2, Int64(row.key.account))
            s.bind(3, Int64(row.key.collection))
            if let grant = row.grant {
                s.bind(4, Int64(grant.amount)); s.bind(5, Int64(grant.tag)); s.bind(6, Int64(grant.rule))
            }
            try s.run(db)
        }
        lap(1)
        let insertLedger = try RawStatement(db, """
            INSERT INTO ledger(id, prev_id, account_id, collection_id, rkey, kind, amount, rule_id, time_us)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for entry in batch.ledger {
            let s = insertLedger
            s.bind(1, entry.id)
            s.bind(2, entry.previousID)
            s.bind(3, Int64(entry.account))
            s.bind(4, Int64(entry.collection))
            bindRKey(s, 5, entry.rkey, batch)
            s.bind(6, Int64(entry.kind.rawValue))
            s.bind(7, Int64(entry.amount))
            s.bind(8, Int64(entry.rule))
            s.bind(9, entry.timeUS)
            try s.run(db)
        }
        lap(2)
        if !batch.milestones.isEmpty {
            let s = try RawStatement(db, "INSERT OR IGNORE INTO milestones(account_id, level, time_us) VALUES (?, ?, ?)")
            for row in batch.milestones {
                s.bind(1, Int64(row.account)); s.bind(2, Int64(row.level)); s.bind(3, row.timeUS)
                try s.run(db)
            }
        }
        if !batch.outbox.isEmpty {
            let s = try RawStatement(db, """
                INSERT OR IGNORE INTO outbox(key, account_id, kind, payload, created_us) VALUES (?, ?, ?, ?, ?)
                """)
            for row in batch.outbox {
                s.bind(1, row.key); s.bind(2, Int64(row.account)); s.bind(3, row.kind)
                s.bind(4, row.payload); s.bind(5, row.createdUS)
                try s.run(db)
            }
        }
        if !batch.outboxCancels.isEmpty {
            let s = try RawStatement(db, "UPDATE outbox SET state = 'cancelled' WHERE account_id = ? AND state = 'pending'")
            for account in batch.outboxCancels {
                s.bind(1, Int64(account))
                try s.run(db)
            }
        }
        for purge in batch.purges { try applyPurge(purge, batch, db) }
        let cursor = try RawStatement(db, """
            INSERT INTO cursor(source, time_us, updated_us) VALUES (?, ?, ?)
            ON CONFLICT(source) DO UPDATE SET time_us = max(time_us, excluded.time_us), updated_us = excluded.updated_us
            """)
        cursor.bind(1, source); cursor.bind(2, batch.cursorUS); cursor.bind(3, Clock.nowMicroseconds())
        try cursor.run(db)
    }

    /// Removes a deleted account's rows; the account row stays as a tombstone.
    private static func applyPurge(_ purge: WriteBatch.Purge, _ batch: WriteBatch, _ db: Database) throws {
        let id = Int64(purge.account)
        let ledger = try RawStatement(db, """
            DELETE FROM ledger WHERE id IN (
                WITH RECURSIVE chain(id) AS (
                    SELECT ?1 WHERE ?1 > 0
                    UNION ALL SELECT l.prev_id FROM chain c JOIN ledger l ON l.id = c.id WHERE l.prev_id > 0
                ) SELECT id FROM chain)
            """)
        ledger.bind(1, purge.ledgerHead)
        try ledger.run(db)
        let grant = try RawStatement(db, "DELETE FROM grants WHERE rkey = ? AND account_id = ? AND collection_id = ?")
        for key in purge.grants {
            bindRKey(grant, 1, key.rkey, batch)
            grant.bind(2, Int64(key.account))
            grant.bind(3, Int64(key.collection))
            try grant.run(db)
        }
        for sql in ["DELETE FROM milestones WHERE account_id = ?1", "DELETE FROM outbox WHERE account_id = ?1",
                    "UPDATE accounts SET handle = NULL, purged_us = ?2 WHERE id = ?1"] {
            let s = try RawStatement(db, sql)
            s.bind(1, id)
            if sql.contains("?2") { s.bind(2, Clock.nowMicroseconds()) }
            try s.run(db)
        }
    }

    @inline(__always)
    private static func bindRKey(_ s: RawStatement, _ index: Int32, _ rkey: UInt64, _ batch: WriteBatch) {
        if rkey & RecordKey.nonTIDFlag != 0 {
            s.bind(index, batch.rkeyTexts[rkey] ?? "")
        } else {
            s.bind(index, Int64(rkey))
        }
    }
}

/// A cached GRDB statement driven through the SQLite C API for bulk writes.
///
/// - Note: Only valid inside the database access closure that created it.
struct RawStatement {
    let handle: OpaquePointer

    init(_ db: Database, _ sql: String) throws {
        handle = try db.cachedStatement(sql: sql).sqliteStatement
    }

    @inline(__always) func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(handle, index, value) }

    @inline(__always) func bind(_ index: Int32, _ value: String?) {
        guard let value else { return bindNull(index) }
        var text = value
        text.withUTF8 { buffer in
            _ = sqlite3_bind_text(handle, index, UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                                  Int32(buffer.count), sqliteTransient)
        }
    }

    @inline(__always) func bindNull(_ index: Int32) { sqlite3_bind_null(handle, index) }

    /// Steps the statement to completion and resets it for the next row.
    @inline(__always) func run(_ db: Database) throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}

/// SQLite's "copy this buffer" destructor marker.
nonisolated(unsafe) let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

import Synchronization
import Glibc
enum WriteProfile {
    static let enabled = getenv("BOTHOST_PROFILE_WRITES") != nil
    static let totals = Mutex<[Double]>([0, 0, 0, 0, 0, 0])
    static func add(_ i: Int, _ v: Double) { totals.withLock { $0[i] += v } }
    static func report() -> String { totals.withLock { "accounts \($0[0]) grants \($0[1]) ledger \($0[2]) rest \($0[5])" } }
}
