import BotHost
import GRDB
import Rules
import XRPCClient

extension Store {
    /// Every query that shows an account joins its fetched profile (`profiles p`).
    private static let accountColumns = """
        a.id, a.did, \(Store.shownHandle), t.xp, t.level, a.status, a.consent,
        (SELECT group_concat(level) FROM (SELECT level FROM milestones m WHERE m.account_id = a.id ORDER BY level)),
        p.display_name, a.excluded, a.unranked, a.purged_us
        """
    private static let accountsJoin = "accounts a JOIN totals t ON t.account_id = a.id LEFT JOIN profiles p ON p.account_id = a.id"

    private static func account(_ row: Row) -> AccountRecord {
        let milestones = (row[7] as String?)?.split(separator: ",").compactMap { Int($0) } ?? []
        var record = AccountRecord(id: row[0], did: row[1], handle: row[2], xp: row[3], level: row[4],
                                   milestones: milestones, status: row[5], consent: row[6], displayName: row[8])
        record.excluded = (row[9] as Int64) != 0
        record.selfUnranked = (row[10] as Int64) != 0
        record.purged = (row[11] as Int64) != 0
        return record
    }

    /// Calls `body` for every account, ordered by DID (streams; constant memory).
    public func forEachAccount(_ body: (AccountRecord) throws -> Void) throws {
        try queue.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT \(Self.accountColumns) FROM \(Self.accountsJoin) ORDER BY a.did")
            while let row = try rows.next() { try body(Self.account(row)) }
        }
    }

    /// Finds an account by DID, or by handle (with or without a leading `@`).
    public func account(_ didOrHandle: String) throws -> AccountRecord? {
        try queue.read { db in
            var key = didOrHandle.hasPrefix("@") ? String(didOrHandle.dropFirst()) : didOrHandle
            if !key.hasPrefix("did:") { key = key.lowercased() }  // stored lowercased (v10): an index probe
            if key.hasPrefix("did:") {
                return try Row.fetchOne(db, sql: "SELECT \(Self.accountColumns) FROM \(Self.accountsJoin) WHERE a.did = ?",
                                        arguments: [key]).map(Self.account)
            }
            // The handle shown, from the stream or fetched: both are index probes.
            return try Row.fetchOne(db, sql: """
                SELECT \(Self.accountColumns) FROM \(Self.accountsJoin)
                WHERE a.id IN (SELECT id FROM accounts WHERE handle = ?1 UNION SELECT account_id FROM profiles WHERE handle = ?1)
                  AND \(Self.shownHandle) = ?1
                ORDER BY max(a.handle_time_us, COALESCE(p.fetched_us, 0)) DESC LIMIT 1
                """, arguments: [key]).map(Self.account)
        }
    }

    /// The most recent ledger entries of an account, newest first.
    public func ledger(account id: Int64, limit: Int) throws -> [LedgerRecord] {
        try queue.read { db in
            let rows = try Row.fetchAll(db, sql: """
                WITH RECURSIVE chain(id, n) AS (
                    SELECT last_ledger_id, 1 FROM totals WHERE account_id = ?1 AND last_ledger_id > 0
                    UNION ALL
                    SELECT l.prev_id, c.n + 1 FROM chain c JOIN ledger l ON l.id = c.id WHERE l.prev_id > 0 AND c.n < ?2
                )
                SELECT l.id, l.kind, l.amount, r.plugin, r.rule, r.version, a.did, co.nsid, l.rkey, l.time_us
                FROM chain JOIN ledger l ON l.id = chain.id JOIN accounts a ON a.id = l.account_id
                LEFT JOIN rules r ON r.id = l.rule_id LEFT JOIN collections co ON co.id = l.collection_id
                ORDER BY l.id DESC
                """, arguments: [id, limit])
            return rows.map { row in
                let kind = LedgerEntry.Kind(rawValue: UInt8(row[1] as Int64))?.name ?? "unknown"
                let rkeyValue: DatabaseValue = row[8]
                let rkey: String
                if case let .int64(value) = rkeyValue.storage {
                    rkey = TID(rawValue: UInt64(bitPattern: value))?.description ?? String(value)
                } else {
                    rkey = String.fromDatabaseValue(rkeyValue) ?? ""
                }
                return LedgerRecord(id: row[0], kind: kind, amount: row[2], plugin: row[3] ?? "?", rule: row[4] ?? "?",
                                    version: row[5] ?? "?", uri: "at://\(row[6] as String)/\(row[7] as String? ?? "?")/\(rkey)",
                                    timeUS: row[9])
            }
        }
    }

    /// The leaderboard: active accounts by XP (ties by DID).
    public func top(limit: Int) throws -> [AccountRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.accountColumns) FROM \(Self.accountsJoin)
                WHERE a.status = 'active' AND a.excluded = 0 AND a.unranked = 0 AND t.xp > 0 ORDER BY t.xp DESC, a.did LIMIT ?
                """, arguments: [limit]).map(Self.account)
        }
    }
}

extension Store {
    /// The leaderboard of a sliding window ending at `asOf` (microseconds): net XP (grants
    /// minus revocations, re-grades by their delta) of ledger entries whose event time is in
    /// `(asOf − window, asOf]`; only active, not excluded accounts with a positive score;
    /// ties by DID.
    ///
    /// The window is summed from whole days (`xp_daily`), whole hours (`xp_hourly`) and,
    /// for the partial hours at its two ends, the ledger (by its time index): at most two
    /// hours of ledger rows, however long the window.
    public func leaderboard(window: RankingWindow, asOf: Int64, limit: Int) throws -> [RankedAccount] {
        try leaderboard(from: asOf - window.microseconds, to: asOf, limit: limit)
    }

    /// Net XP of event times in `(from, to]` (µs), ranked.
    public func leaderboard(from: Int64, to: Int64, limit: Int) throws -> [RankedAccount] {
        try queue.read { db in try Self.ranked(db, from: from, to: to, limit: limit) }
    }

    static func ranked(_ db: Database, from: Int64, to: Int64, limit: Int) throws -> [RankedAccount] {
        let (parts, arguments) = StoreQueries.windowParts(from: from, to: to, dailyThroughUS: try Self.dailyThrough(db) * 1_000_000)
        let rows = try Row.fetchAll(db, sql: """
            SELECT a.did, \(Self.shownHandle), s.score, t.xp, t.level, p.display_name FROM (
                SELECT account_id, SUM(xp) AS score FROM (\(parts.joined(separator: " UNION ALL ")))
                GROUP BY account_id
            ) s JOIN accounts a ON a.id = s.account_id JOIN totals t ON t.account_id = a.id
            LEFT JOIN profiles p ON p.account_id = a.id
            WHERE s.score > 0 AND a.status = 'active' AND a.excluded = 0 AND a.unranked = 0
            ORDER BY s.score DESC, a.did ASC LIMIT ?
            """, arguments: StatementArguments(arguments + [limit]))
        return rows.enumerated().map { index, row in
            RankedAccount(rank: index + 1, did: row[0], handle: row[1], score: row[2], xp: row[3], level: row[4],
                          displayName: row[5])
        }
    }

    /// The archive of an ended season, by rank (empty when it has none).
    public func seasonArchive(_ name: String) throws -> [RankedAccount] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT rank, did, handle, score, xp, level FROM season_archive WHERE season = ? ORDER BY rank",
                             arguments: [name]).map {
                RankedAccount(rank: $0[0], did: $0[1], handle: $0[2], score: $0[3], xp: $0[4], level: $0[5], displayName: nil)
            }
        }
    }

    /// The seasons archived so far, newest first.
    public func archivedSeasons() throws -> [ArchivedSeason] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT season, min(start_us), min(end_us), min(archived_us), count(*) FROM season_archive
                GROUP BY season ORDER BY min(end_us) DESC
                """).map { ArchivedSeason(name: $0[0], startUS: $0[1], endUS: $0[2], archivedUS: $0[3], entries: $0[4]) }
        }
    }

    /// The all-time leaderboard (score = total XP).
    public func leaderboard(limit: Int) throws -> [RankedAccount] {
        try top(limit: limit).enumerated().map { index, account in
            RankedAccount(rank: index + 1, did: account.did, handle: account.handle, score: account.xp, xp: account.xp, level: account.level,
                          displayName: account.displayName)
        }
    }

    /// Excludes an account from the rankings (or includes it again), with an audit line.
    /// Safe while a host runs: the host never writes this flag.
    /// - Returns: false when the account is unknown.
    public func setExcluded(_ didOrHandle: String, excluded: Bool, actor: String, reason: String) throws -> Bool {
        guard let account = try account(didOrHandle) else { return false }
        try queue.write { db in
            try db.execute(sql: "UPDATE accounts SET excluded = ? WHERE id = ?", arguments: [excluded ? 1 : 0, account.id])
            try Self.audit(db, actor: actor, action: excluded ? "exclude" : "include", did: account.did, detail: reason)
            // The running host takes it into its rank tracker at its next batch.
            try db.execute(sql: "INSERT INTO commands(kind, did, amount, reason, actor, created_us) VALUES (?, ?, 0, ?, ?, ?)",
                           arguments: [excluded ? "exclude" : "include", account.did, reason, actor, Clock.nowMicroseconds()])
        }
        return true
    }

    static func audit(_ db: Database, actor: String, action: String, did: String?, detail: String) throws {
        try db.execute(sql: "INSERT INTO audit(time_us, actor, action, did, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [Clock.nowMicroseconds(), actor, action, did, detail])
    }

    /// The audit log, newest first.
    public func auditLog(limit: Int) throws -> [AuditRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT id, time_us, actor, action, did, detail FROM audit ORDER BY id DESC LIMIT ?",
                             arguments: [limit]).map {
                AuditRecord(id: $0[0], timeUS: $0[1], actor: $0[2], action: $0[3], did: $0[4], detail: $0[5])
            }
        }
    }

    /// Whether an account is excluded from the rankings.
    public func isExcluded(_ did: String) throws -> Bool {
        try queue.read { db in try Bool.fetchOne(db, sql: "SELECT excluded FROM accounts WHERE did = ?", arguments: [did]) ?? false }
    }

    /// Cursor, sizes and outbox counts.
    public func status() throws -> StoreStatus {
        try queue.read { db in
            var status = StoreStatus()
            if let row = try Row.fetchOne(db, sql: "SELECT time_us, updated_us FROM cursor WHERE source = 'jetstream'") {
                status.cursorUS = row[0]
                status.cursorUpdatedUS = row[1]
            }
            status.accounts = try Int.fetchOne(db, sql: "SELECT count(*) FROM accounts") ?? 0
            status.ledgerEntries = try Int.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM ledger") ?? 0
            status.liveGrants = try Int.fetchOne(db, sql: "SELECT count(*) FROM grants") ?? 0
            status.milestones = try Int.fetchOne(db, sql: "SELECT count(*) FROM milestones") ?? 0
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) FROM outbox GROUP BY state") {
                status.outbox[row[0]] = row[1]
            }
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM bot_state WHERE key LIKE 'plugin_health:%'") {
                status.pluginHealth[String((row[0] as String).dropFirst("plugin_health:".count))] = row[1]
            }
            return status
        }
    }
}

extension Store {
    /// An account's activity counts over all retained days, by counter name
    /// (`<collection>:<operation>`), sorted by name.
    public func activityTotals(did: String) throws -> [(String, Int64)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT n.name, SUM(c.value) FROM counters c JOIN counter_names n ON n.id = c.counter_id
                JOIN accounts a ON a.id = c.account_id WHERE a.did = ? AND n.name NOT LIKE 'hour:%'
                GROUP BY n.name ORDER BY n.name
                """, arguments: [did]).map { ($0[0] as String, $0[1] as Int64) }
        }
    }

    /// An account's activity per day (or hour) bucket (unix seconds), oldest first:
    /// event counts by type, and the net XP of each type from the ledger.
    public func activity(did: String, hourly: Bool = false) throws -> [(Int64, [(String, Int64)])] {
        let counters = try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.bucket, n.name, c.value FROM counters c JOIN counter_names n ON n.id = c.counter_id
                JOIN accounts a ON a.id = c.account_id WHERE a.did = ?
                """, arguments: [did]).map { (bucket: $0[0] as Int64, name: $0[1] as String, value: $0[2] as Int64) }
        }
        let ledger = try account(did).map { try self.ledger(account: $0.id, limit: 1_000_000) } ?? []
        return StoreQueries.activityBuckets(counters: counters, ledger: ledger, hourly: hourly)
    }

}

extension Store {
    /// Queues a moderator command; returns its id.
    public func enqueue(_ kind: ModeratorCommand.Kind, did: String, amount: Int64, reason: String, actor: String) throws -> Int64 {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO commands(kind, did, amount, reason, actor, created_us) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [kind.rawValue, did, amount, reason, actor, Clock.nowMicroseconds()])
            return db.lastInsertedRowID
        }
    }

    public func enqueueImport(_ rows: [AccountImportRow], reason: String, actor: String) throws -> [Int64] {
        try queue.write { db in
            let now = Clock.nowMicroseconds()
            let statement = try db.makeStatement(sql: "INSERT INTO commands(kind, did, amount, reason, actor, created_us) VALUES ('import', ?, ?, ?, ?, ?)")
            var ids: [Int64] = []
            ids.reserveCapacity(rows.count)
            for row in rows {
                try statement.execute(arguments: [row.did, row.xp, reason, actor, now])
                ids.append(db.lastInsertedRowID)
            }
            return ids
        }
    }

    /// Commands not applied yet, oldest first.
    public func pendingCommands() throws -> [ModeratorCommand] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT id, kind, did, amount, reason, actor FROM commands WHERE state = 'pending' ORDER BY id").compactMap { row in
                guard let kind = ModeratorCommand.Kind(rawValue: row[1]) else { return nil }
                return ModeratorCommand(id: row[0], kind: kind, did: row[2], amount: row[3], reason: row[4], actor: row[5])
            }
        }
    }

    /// A command's state and result.
    public func command(_ id: Int64) throws -> (state: String, result: String?)? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT state, result FROM commands WHERE id = ?", arguments: [id]).map { ($0[0], $0[1]) }
        }
    }
}

extension Store {
    /// Pending commands newer than `after` (a host applies each once; the batch that
    /// applies them marks them applied), advancing `after`.
    public func pendingCommandsOnce(after: inout Int64) throws -> [ModeratorCommand] {
        let commands = try pendingCommands().filter { $0.id > after }
        if let last = commands.last { after = last.id }
        return commands
    }
}

extension Store {
    /// Ranking changes (entered / left a top N), newest first.
    public func rankEvents(limit: Int) throws -> [RankEventRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT e.time_us, e.window, e.threshold, a.did, \(Self.shownHandle), e.kind, e.rank
                FROM rank_events e JOIN accounts a ON a.id = e.account_id LEFT JOIN profiles p ON p.account_id = a.id ORDER BY e.id DESC LIMIT ?
                """, arguments: [limit]).map {
                RankEventRecord(timeUS: $0[0], window: $0[1], threshold: $0[2], did: $0[3], handle: $0[4], kind: $0[5], rank: $0[6])
            }
        }
    }
}
