import BotHost
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

    /// Rows per multi-row INSERT of the ledger.
    static let rowsPerInsert = 32

    /// The batch's steps in the order ``WriteBatch`` defines: dictionaries and new
    /// accounts, then each segment (its barriers, then its rows), then the final state of
    /// what the batch touched, the day roll-up and the cursor.
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
        for (id, name) in batch.counterNames {
            let s = try RawStatement(db, "INSERT OR IGNORE INTO counter_names(id, name) VALUES (?, ?)")
            s.bind(1, Int64(id)); s.bind(2, name)
            try s.run(db)
        }
        let newAccounts = batch.accounts.filter { $0.did != nil }
        try insertRows(db, count: newAccounts.count,
                       prefix: "INSERT INTO accounts(id, did, handle, handle_time_us, status, status_time_us, consent, last_seq) VALUES ",
                       columns: 8) { s, p, index in
            let row = newAccounts[index]
            s.bind(p + 1, Int64(row.id))
            s.bind(p + 2, row.did)
            s.bind(p + 3, row.handle)
            s.bind(p + 4, row.handleTimeUS)
            s.bind(p + 5, row.status)
            s.bind(p + 6, row.statusTimeUS)
            s.bind(p + 7, row.consent.name)
            s.bind(p + 8, row.lastSeq)
        }
        let through = try dailyThrough(db)
        for segment in batch.segments {
            for barrier in segment.barriers { try applyBarrier(barrier, batch, db) }
            try writeRows(segment, batch, through: through, db, lap)
        }
        try writeFinalState(batch, db)
        lap(0)
        try rollUpDays(batch, through: through, db)
        for (id, result) in batch.commandsApplied {
            let s = try RawStatement(db, "UPDATE commands SET state = 'applied', applied_us = ?, result = ? WHERE id = ?")
            s.bind(1, Clock.nowMicroseconds()); s.bind(2, result); s.bind(3, id)
            try s.run(db)
        }
        for audit in batch.audits {
            try Self.audit(db, actor: audit.actor, action: audit.action, did: audit.did, detail: audit.detail)
        }
        let cursor = try RawStatement(db, """
            INSERT INTO cursor(source, time_us, updated_us) VALUES (?, ?, ?)
            ON CONFLICT(source) DO UPDATE SET time_us = max(time_us, excluded.time_us), updated_us = excluded.updated_us
            """)
        cursor.bind(1, source); cursor.bind(2, batch.cursorUS); cursor.bind(3, Clock.nowMicroseconds())
        try cursor.run(db)
        try archiveSeasons(batch, db)
    }

    /// Writes the top N of each season that ended in this batch, once (a second writer of
    /// the same season writes nothing), and how far this host has archived.
    private static func archiveSeasons(_ batch: WriteBatch, _ db: Database) throws {
        if let through = batch.seasonsThroughUS {
            try db.execute(sql: "INSERT INTO bot_state(key, value) VALUES ('seasons_through', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: [String(through)])
        }
        for season in batch.seasonArchives {
            let top = try ranked(db, from: season.startUS - 1, to: season.endUS - 1, limit: batch.seasonArchiveTop)
            let now = Clock.nowMicroseconds()
            for entry in top {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO season_archive(season, rank, did, handle, score, xp, level, start_us, end_us, archived_us)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [season.name, entry.rank, entry.did, entry.handle, entry.score, entry.xp, entry.level,
                                     season.startUS, season.endUS, now])
            }
            // Season-end announcements to the archive's opted-in, active accounts, keyed
            // once per season and account (the dispatcher checks consent again at sending).
            if let template = batch.seasonAnnouncement {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO outbox(key, account_id, kind, payload, created_us)
                    SELECT 'season:' || s.season || ':' || a.did, a.id, 'season',
                           json_object('type', 'season', 'did', a.did, 'handle', coalesce(a.handle, ''), 'season', s.season,
                                       'rank', s.rank, 'xp', s.score, 'template', ?), ?
                    FROM season_archive s JOIN accounts a ON a.did = s.did
                    WHERE s.season = ? AND a.consent IN ('opted_in', 'no_ping') AND a.status = 'active'
                    ORDER BY s.rank
                    """, arguments: [template, season.endUS, season.name])
            }
        }
    }

    /// An effect applied to what the earlier segments and batches left.
    private static func applyBarrier(_ barrier: WriteBatch.Barrier, _ batch: WriteBatch, _ db: Database) throws {
        switch barrier {
        case let .cancelAnnouncements(account):
            // Announcements only: a confirmation of the opt-out itself still goes out. A
            // message with an attempt begun may have landed: the dispatcher resolves it
            // (looks it up under its record key; cancels it unless it is found).
            let s = try RawStatement(db, """
                UPDATE outbox SET state = 'cancelled', last_error = 'account opted out or inactive'
                WHERE account_id = ? AND state = 'pending' AND attempts = 0 AND kind IN ('milestone', 'rank')
                """)
            s.bind(1, Int64(account))
            try s.run(db)
        case let .purge(purge):
            try applyPurge(purge, batch, db)
        case let .retention(daily, hourly, limitsBefore):
            // Bucket-first keys make each a range delete at the front of the B-tree.
            let hourlyDelete = try RawStatement(db, """
                DELETE FROM counters WHERE bucket < ? AND counter_id IN (SELECT id FROM counter_names WHERE name LIKE 'hour:%')
                """)
            hourlyDelete.bind(1, hourly)
            try hourlyDelete.run(db)
            let dailyDelete = try RawStatement(db, "DELETE FROM counters WHERE bucket < ?")
            dailyDelete.bind(1, daily)
            try dailyDelete.run(db)
            // The windowed limits (LimitKind.isWindowed): caps and daily counts.
            let limits = try RawStatement(db, "DELETE FROM rule_limits WHERE kind IN (0, 1, 5) AND key < ?")
            limits.bind(1, limitsBefore)
            try limits.run(db)
        }
    }

    /// The rows of one segment: appends and additive upserts, in bulk.
    private static func writeRows(_ segment: WriteBatch.Segment, _ batch: WriteBatch, through: Int64, _ db: Database,
                                  _ lap: (Int) -> Void) throws {
        try insertRows(db, count: segment.counters.count,
                       prefix: "INSERT INTO counters(bucket, account_id, counter_id, value) VALUES ",
                       suffix: " ON CONFLICT(bucket, account_id, counter_id) DO UPDATE SET value = value + excluded.value",
                       columns: 4) { s, p, index in
            let row = segment.counters[index]
            s.bind(p + 1, row.bucket)
            s.bind(p + 2, Int64(row.account))
            s.bind(p + 3, Int64(row.counter))
            s.bind(p + 4, row.amount)
        }
        lap(4)
        try writeXPBuckets(segment.xpBuckets, through: through, db)
        lap(3)
        try insertRows(db, count: segment.ledger.count,
                       prefix: "INSERT INTO ledger(id, prev_id, account_id, collection_id, rkey, kind, amount, rule_id, time_us) VALUES ",
                       columns: 9) { s, p, index in
            let entry = segment.ledger[index]
            s.bind(p + 1, entry.id)
            s.bind(p + 2, entry.previousID)
            s.bind(p + 3, Int64(entry.account))
            s.bind(p + 4, Int64(entry.collection))
            bindRKey(s, p + 5, entry.rkey, batch)
            s.bind(p + 6, Int64(entry.kind.rawValue))
            s.bind(p + 7, Int64(entry.amount))
            s.bind(p + 8, Int64(entry.rule))
            s.bind(p + 9, entry.timeUS)
        }
        lap(2)
        if !segment.milestones.isEmpty {
            let s = try RawStatement(db, "INSERT OR IGNORE INTO milestones(account_id, level, time_us) VALUES (?, ?, ?)")
            for row in segment.milestones {
                s.bind(1, Int64(row.account)); s.bind(2, Int64(row.level)); s.bind(3, row.timeUS)
                try s.run(db)
            }
        }
        if !segment.outbox.isEmpty {
            let s = try RawStatement(db, """
                INSERT OR IGNORE INTO outbox(key, account_id, kind, payload, created_us) VALUES (?, ?, ?, ?, ?)
                """)
            for row in segment.outbox {
                s.bind(1, row.key); s.bind(2, Int64(row.account)); s.bind(3, row.kind)
                s.bind(4, row.payload); s.bind(5, row.createdUS)
                try s.run(db)
            }
        }
        if let members = segment.rankMembers {
            try db.execute(sql: "DELETE FROM rank_members WHERE window = ?", arguments: [batch.rankWindow])
            let s = try RawStatement(db, "INSERT INTO rank_members(window, threshold, account_id, entered_us, out_since_us) VALUES (?, ?, ?, ?, ?)")
            for member in members {
                s.bind(1, batch.rankWindow); s.bind(2, Int64(member.threshold)); s.bind(3, Int64(member.account))
                s.bind(4, member.enteredUS)
                if let out = member.outSinceUS { s.bind(5, out) } else { s.bindNull(5) }
                try s.run(db)
            }
        }
        if !segment.rankEvents.isEmpty {
            let s = try RawStatement(db, "INSERT INTO rank_events(time_us, window, threshold, account_id, kind, rank) VALUES (?, ?, ?, ?, ?, ?)")
            for event in segment.rankEvents {
                s.bind(1, event.timeUS); s.bind(2, batch.rankWindow); s.bind(3, Int64(event.threshold))
                s.bind(4, Int64(event.account)); s.bind(5, event.kind.rawValue)
                if let rank = event.rank { s.bind(6, Int64(rank)) } else { s.bindNull(6) }
                try s.run(db)
            }
        }
        if !segment.rankingChanges.isEmpty {
            let s = try RawStatement(db, "UPDATE accounts SET unranked = ? WHERE id = ?")
            for change in segment.rankingChanges {
                s.bind(1, Int64(change.ranked ? 0 : 1)); s.bind(2, Int64(change.account))
                try s.run(db)
            }
        }
        if !segment.consentChanges.isEmpty {
            let s = try RawStatement(db, "INSERT INTO consent_log(account_id, consent, source, time_us) VALUES (?, ?, ?, ?)")
            for change in segment.consentChanges {
                s.bind(1, Int64(change.account)); s.bind(2, change.consent.name); s.bind(3, change.source); s.bind(4, change.timeUS)
                try s.run(db)
            }
        }
        try insertRows(db, count: segment.shadowLedger.count,
                       prefix: "INSERT INTO shadow_ledger(account_id, collection_id, rkey, kind, amount, rule_id, time_us) VALUES ",
                       columns: 7) { s, p, index in
            let row = segment.shadowLedger[index]
            s.bind(p + 1, Int64(row.account))
            s.bind(p + 2, Int64(row.collection))
            bindRKey(s, p + 3, row.rkey, batch)
            s.bind(p + 4, Int64(row.kind.rawValue))
            s.bind(p + 5, Int64(row.amount))
            s.bind(p + 6, Int64(row.rule))
            s.bind(p + 7, row.timeUS)
        }
        if !segment.shadowMilestones.isEmpty {
            let s = try RawStatement(db, "INSERT OR IGNORE INTO shadow_milestones(account_id, level, time_us) VALUES (?, ?, ?)")
            for row in segment.shadowMilestones {
                s.bind(1, Int64(row.account)); s.bind(2, Int64(row.level)); s.bind(3, row.timeUS)
                try s.run(db)
            }
        }
    }

    /// The final state of what the batch touched: account profiles and totals, grants,
    /// rule limits and shadow totals.
    private static func writeFinalState(_ batch: WriteBatch, _ db: Database) throws {
        let updateAccount = try RawStatement(db, """
            UPDATE accounts SET handle = ?, handle_time_us = ?, status = ?, status_time_us = ?, consent = ?, last_seq = ? WHERE id = ?
            """)
        // New accounts too: a barrier of this batch (a purge) may have changed the row
        // inserted for them before the segments.
        for row in batch.accounts where row.profileChanged {
            updateAccount.bind(1, row.handle)
            updateAccount.bind(2, row.handleTimeUS)
            updateAccount.bind(3, row.status)
            updateAccount.bind(4, row.statusTimeUS)
            updateAccount.bind(5, row.consent.name)
            updateAccount.bind(6, row.lastSeq)
            updateAccount.bind(7, Int64(row.id))
            try updateAccount.run(db)
        }
        // Totals of every changed account, new or not, as multi-row upserts.
        try insertRows(db, count: batch.accounts.count,
                       prefix: "INSERT INTO totals(account_id, last_rev, xp, level, max_level, last_ledger_id, last_op, more_ops) VALUES ",
                       suffix: """
                        ON CONFLICT(account_id) DO UPDATE SET last_rev = excluded.last_rev, xp = excluded.xp,
                        level = excluded.level, max_level = excluded.max_level, last_ledger_id = excluded.last_ledger_id,
                        last_op = excluded.last_op, more_ops = excluded.more_ops
                       """,
                       columns: 8) { s, p, index in
            let row = batch.accounts[index]
            s.bind(p + 1, Int64(row.id))
            switch row.lastRev {
            case nil: s.bindNull(p + 2)
            case let .tid(value)?: s.bind(p + 2, value)
            case let .text(text)?: s.bind(p + 2, text)
            }
            s.bind(p + 3, row.xp)
            s.bind(p + 4, Int64(row.level))
            s.bind(p + 5, Int64(row.maxLevel))
            s.bind(p + 6, row.lastLedgerID)
            s.bind(p + 7, row.lastOp)
            if row.moreOps.isEmpty { s.bindNull(p + 8) } else { s.bind(p + 8, row.moreOps.map(String.init).joined(separator: ",")) }
        }
        let live = batch.grants.filter { $0.grant != nil }
        try insertRows(db, count: live.count,
                       prefix: "INSERT INTO grants(rkey, account_id, collection_id, amount, tag, rule_id) VALUES ",
                       suffix: " ON CONFLICT(rkey, account_id, collection_id) DO UPDATE SET amount = excluded.amount, tag = excluded.tag, rule_id = excluded.rule_id",
                       columns: 6) { s, p, index in
            let row = live[index]
            bindRKey(s, p + 1, row.key.rkey, batch)
            s.bind(p + 2, Int64(row.key.account))
            s.bind(p + 3, Int64(row.key.collection))
            s.bind(p + 4, Int64(row.grant!.amount))
            s.bind(p + 5, Int64(row.grant!.tag))
            s.bind(p + 6, Int64(row.grant!.rule))
        }
        let deleteGrant = try RawStatement(db, "DELETE FROM grants WHERE rkey = ? AND account_id = ? AND collection_id = ?")
        for row in batch.grants where row.grant == nil {
            bindRKey(deleteGrant, 1, row.key.rkey, batch)
            deleteGrant.bind(2, Int64(row.key.account))
            deleteGrant.bind(3, Int64(row.key.collection))
            try deleteGrant.run(db)
        }
        if !batch.limits.isEmpty {
            let upsert = try RawStatement(db, """
                INSERT INTO rule_limits(account_id, slot, kind, key, value) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(account_id, slot, kind, key) DO UPDATE SET value = excluded.value
                """)
            let delete = try RawStatement(db, "DELETE FROM rule_limits WHERE account_id = ? AND slot = ? AND kind = ? AND key = ?")
            for (key, value) in batch.limits {
                let s = value == nil ? delete : upsert
                s.bind(1, Int64(key.account)); s.bind(2, Int64(key.slot)); s.bind(3, Int64(key.kind.rawValue)); s.bind(4, key.key)
                if let value { s.bind(5, value) }
                try s.run(db)
            }
        }
        if !batch.shadowTotals.isEmpty {
            let s = try RawStatement(db, """
                INSERT INTO shadow_totals(account_id, xp, level, max_level) VALUES (?, ?, ?, ?)
                ON CONFLICT(account_id) DO UPDATE SET xp = excluded.xp, level = excluded.level, max_level = excluded.max_level
                """)
            let delete = try RawStatement(db, "DELETE FROM shadow_totals WHERE account_id = ?")
            for (account, totals) in batch.shadowTotals {
                guard let totals else {
                    delete.bind(1, Int64(account))
                    try delete.run(db)
                    continue
                }
                s.bind(1, Int64(account)); s.bind(2, totals.xp); s.bind(3, Int64(totals.level)); s.bind(4, Int64(totals.maxLevel))
                try s.run(db)
            }
        }
    }

    /// Inserts `count` rows with multi-row `VALUES` lists of ``rowsPerInsert`` rows (one
    /// VDBE run inserts them all, roughly halving the per-row cost), the remainder one
    /// row per statement. `bind` gets the statement, the parameter offset of the row and
    /// the row's index.
    static func insertRows(_ db: Database, count: Int, prefix: String, suffix: String = "", columns: Int,
                                   bind: (RawStatement, Int32, Int) -> Void) throws {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
        let groupSQL = prefix + Array(repeating: row, count: rowsPerInsert).joined(separator: ", ") + suffix
        let singleSQL = prefix + row + suffix
        var start = 0
        while start < count {
            let rows = count - start >= rowsPerInsert ? rowsPerInsert : 1
            let s = try RawStatement(db, rows == 1 ? singleSQL : groupSQL)
            for offset in 0..<rows { bind(s, Int32(offset * columns), start + offset) }
            try s.run(db)
            start += rows
        }
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
        // Grants that left memory (cold) are known only here: one pass over the table (no
        // index by account keeps grant inserts cheap; purges are rare).
        let grants = try RawStatement(db, "DELETE FROM grants WHERE account_id = ?")
        grants.bind(1, id)
        try grants.run(db)
        for sql in ["DELETE FROM milestones WHERE account_id = ?1", "DELETE FROM outbox WHERE account_id = ?1",
                   "DELETE FROM consent_log WHERE account_id = ?1",
                   "DELETE FROM xp_hourly WHERE account_id = ?1", "DELETE FROM xp_daily WHERE account_id = ?1",
                   "DELETE FROM rank_members WHERE account_id = ?1", "DELETE FROM rank_events WHERE account_id = ?1",
                    "DELETE FROM counters WHERE account_id = ?1", "DELETE FROM rule_limits WHERE account_id = ?1",
                    "DELETE FROM shadow_ledger WHERE account_id = ?1", "DELETE FROM shadow_totals WHERE account_id = ?1",
                    "DELETE FROM shadow_milestones WHERE account_id = ?1", "DELETE FROM profiles WHERE account_id = ?1",
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

extension Store {
    /// Day before which `xp_daily` holds the rolled-up hours (unix seconds).
    static func dailyThrough(_ db: Database) throws -> Int64 {
        try String.fetchOne(db, sql: "SELECT value FROM bot_state WHERE key = 'xp_daily_through'").flatMap { Int64($0) } ?? 0
    }

    /// A segment's net XP per hour into `xp_hourly`; an hour of a day already rolled up
    /// (a late or replayed event) updates its day too.
    static func writeXPBuckets(_ rows: [(bucket: Int64, account: UInt32, daily: Bool, amount: Int64)], through: Int64,
                               _ db: Database) throws {
        try insertRows(db, count: rows.count,
                       prefix: "INSERT INTO xp_hourly(bucket, account_id, xp) VALUES ",
                       suffix: " ON CONFLICT(bucket, account_id) DO UPDATE SET xp = xp + excluded.xp",
                       columns: 3) { s, p, index in
            let row = rows[index]
            s.bind(p + 1, row.bucket)
            s.bind(p + 2, Int64(row.account))
            s.bind(p + 3, row.amount)
        }
        if let oldest = rows.first, oldest.bucket < through {
            let late = try RawStatement(db, """
                INSERT INTO xp_daily(bucket, account_id, xp) VALUES (?, ?, ?)
                ON CONFLICT(bucket, account_id) DO UPDATE SET xp = xp + excluded.xp
                """)
            for row in rows where row.bucket < through {
                late.bind(1, row.bucket - ((row.bucket % 86_400) + 86_400) % 86_400)
                late.bind(2, Int64(row.account)); late.bind(3, row.amount)
                try late.run(db)
            }
        }
    }

    /// Whole days are rolled up from `xp_hourly` into `xp_daily` once, when the stream
    /// passes their end (one INSERT … SELECT a day, not an upsert per row per batch).
    static func rollUpDays(_ batch: WriteBatch, through: Int64, _ db: Database) throws {
        let seconds = batch.cursorUS / 1_000_000
        let today = seconds - ((seconds % 86_400) + 86_400) % 86_400
        guard batch.cursorUS > 0, today > through else { return }
        try db.execute(sql: """
            INSERT INTO xp_daily(bucket, account_id, xp)
            SELECT bucket - bucket % 86400, account_id, SUM(xp) FROM xp_hourly
            WHERE bucket >= ? AND bucket < ? GROUP BY 1, 2 HAVING SUM(xp) != 0
            """, arguments: [through, today])
        try db.execute(sql: "INSERT INTO bot_state(key, value) VALUES ('xp_daily_through', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [String(today)])
    }
}
