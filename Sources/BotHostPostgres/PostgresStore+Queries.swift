import BotHost
import PostgresNIO
import Synchronization

/// The read side on PostgreSQL: what `bothost export`, `user`, `top` and the HTTP API
/// read. Works the same on a streaming replica (every query is read-only).
extension PostgresStore: AccountReading {
    /// Every query that shows an account joins its fetched profile (`profiles p`).
    private static let accountColumns = """
        a.id, a.did, \(PostgresStore.shownHandle), t.xp, t.level, a.status, a.consent,
        (SELECT string_agg(m.level::text, ',' ORDER BY m.level) FROM milestones m WHERE m.account_id = a.id),
        p.display_name, a.excluded::bigint, a.unranked::bigint, a.purged_us
        """
    private static let accountsJoin = "accounts a JOIN totals t ON t.account_id = a.id LEFT JOIN profiles p ON p.account_id = a.id"

    private static func account(_ row: PostgresRow) throws -> AccountRecord {
        let (id, did, handle, xp, level, status, consent, milestones, displayName) =
            try row.decode((Int64, String, String?, Int64, Int32, String, String, String?, String?).self)
        var record = AccountRecord(id: id, did: did, handle: handle, xp: xp, level: Int(level),
                                   milestones: milestones?.split(separator: ",").compactMap { Int($0) } ?? [],
                                   status: status, consent: consent, displayName: displayName)
        let cells = row.makeRandomAccess()
        record.excluded = try cells[9].decode(Int64.self) != 0
        record.selfUnranked = try cells[10].decode(Int64.self) != 0
        record.purged = try cells[11].decode(Int64.self) != 0
        return record
    }

    /// Calls `body` for every account, ordered by DID, in pages (constant memory).
    public func forEachAccount(_ body: (AccountRecord) throws -> Void) throws {
        var after = ""
        while true {
            let page = try lock.withLock { _ in
                try session.query(PostgresQuery(unsafeSQL: """
                    SELECT \(Self.accountColumns) FROM \(Self.accountsJoin)
                    WHERE a.did > $1 ORDER BY a.did LIMIT 10000
                    """, binds: { var b = PostgresBindings(); b.append(after); return b }()))
            }.map(Self.account)
            for account in page { try body(account) }
            guard let last = page.last else { return }
            after = last.did
        }
    }

    /// Finds an account by DID, or by handle (with or without a leading `@`).
    public func account(_ didOrHandle: String) throws -> AccountRecord? {
        let key = didOrHandle.hasPrefix("@") ? String(didOrHandle.dropFirst()) : didOrHandle
        let sql = key.hasPrefix("did:")
            ? "SELECT \(Self.accountColumns) FROM \(Self.accountsJoin) WHERE a.did = $1"
            // The handle shown, from the stream or fetched: both are index probes.
            : """
              SELECT \(Self.accountColumns) FROM \(Self.accountsJoin)
              WHERE a.id IN (SELECT id FROM accounts WHERE lower(handle) = lower($1)
                             UNION SELECT account_id FROM profiles WHERE lower(handle) = lower($1))
                AND lower(\(Self.shownHandle)) = lower($1)
              ORDER BY GREATEST(a.handle_time_us, COALESCE(p.fetched_us, 0)) DESC LIMIT 1
              """
        var binds = PostgresBindings()
        binds.append(key)
        return try lock.withLock { _ in try session.query(PostgresQuery(unsafeSQL: sql, binds: binds)) }.first.map(Self.account)
    }

    /// The all-time leaderboard: active, ranked accounts by XP (ties by DID).
    public func top(limit: Int) throws -> [AccountRecord] {
        try lock.withLock { _ in
            try session.query(PostgresQuery(unsafeSQL: """
                SELECT \(Self.accountColumns) FROM \(Self.accountsJoin)
                WHERE a.status = 'active' AND a.excluded = 0 AND a.unranked = 0 AND t.xp > 0
                ORDER BY t.xp DESC, a.did LIMIT $1
                """, binds: Self.binds(Int64(limit))))
        }.map(Self.account)
    }

    /// The most recent ledger entries of an account, newest first.
    public func ledger(account id: Int64, limit: Int) throws -> [LedgerRecord] {
        try lock.withLock { _ in
            try session.query(PostgresQuery(unsafeSQL: """
                SELECT l.id, l.kind, l.amount, r.plugin, r.rule, r.version, a.did, co.nsid, l.rkey, l.rkey_text, l.time_us
                FROM ledger l JOIN accounts a ON a.id = l.account_id
                LEFT JOIN rules r ON r.id = l.rule_id LEFT JOIN collections co ON co.id = l.collection_id
                WHERE l.account_id = $1 ORDER BY l.id DESC LIMIT $2
                """, binds: Self.binds(id, Int64(limit))))
        }.map { row in
            let (ledgerID, kind, amount, plugin, rule, version, did, nsid, rkey, rkeyText, time) =
                try row.decode((Int64, Int16, Int32, String?, String?, String?, String, String?, Int64, String, Int64).self)
            let key = rkey < 0 ? rkeyText : (TIDText.encode(UInt64(rkey)))
            return LedgerRecord(id: ledgerID, kind: LedgerEntry.Kind(rawValue: UInt8(kind))?.name ?? "unknown", amount: Int64(amount),
                                plugin: plugin ?? "?", rule: rule ?? "?", version: version ?? "?",
                                uri: "at://\(did)/\(nsid ?? "?")/\(key)", timeUS: time)
        }
    }
}

/// A TID's 13-character base32-sortable text.
enum TIDText {
    private static let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz".utf8)

    static func encode(_ value: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: 13)
        var v = value
        for index in stride(from: 12, through: 0, by: -1) {
            bytes[index] = alphabet[Int(v & 31)]
            v >>= 5
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension PostgresStore: StateReading, ModerationWriting {
    /// The least advanced partition's cursor: every partition has committed up to it.
    public func readCursor() throws -> Int64? {
        try lock.withLock { _ in
            try session.query("SELECT min(time_us) FROM cursor WHERE source = 'jetstream' OR source LIKE 'jetstream/%'").first?.decode(Int64?.self) ?? nil
        }
    }

    /// Days before this one are rolled up in `xp_daily` by every partition.
    private func dailyThroughUS() throws -> Int64 {
        let value = try session.query("SELECT min(value::bigint) FROM bot_state WHERE key LIKE 'xp_daily_through%'").first?.decode(Int64?.self) ?? nil
        return (value ?? 0) * 1_000_000
    }

    /// The sliding-window leaderboard, summed as on SQLite: whole days from `xp_daily`,
    /// whole hours from `xp_hourly`, the two partial hours from the ledger.
    public func leaderboard(window: RankingWindow, asOf: Int64, limit: Int) throws -> [RankedAccount] {
        try leaderboard(from: asOf - window.microseconds, to: asOf, limit: limit)
    }

    /// Net XP of event times in `(from, to]` (µs), ranked.
    public func leaderboard(from: Int64, to: Int64, limit: Int) throws -> [RankedAccount] {
        try lock.withLock { _ in
            let rows = try session.query(try rankedQuery(from: from, to: to, limit: limit, prefix: "", suffix: ""))
            return try rows.enumerated().map { index, row in
                let (did, handle, score, xp, level, displayName) = try row.decode((String, String?, Int64, Int64, Int32, String?).self)
                return RankedAccount(rank: index + 1, did: did, handle: handle, score: score, xp: xp, level: Int(level),
                                     displayName: displayName)
            }
        }
    }

    /// The ranked range as one statement, between `prefix` and `suffix` (an INSERT around it).
    func rankedQuery(from: Int64, to: Int64, limit: Int, prefix: String, suffix: String, extra: [Int64] = []) throws -> PostgresQuery {
        let (parts, arguments) = StoreQueries.windowParts(from: from, to: to, dailyThroughUS: try dailyThroughUS())
        var index = 0
        let numbered = parts.joined(separator: " UNION ALL ").split(separator: "?", omittingEmptySubsequences: false)
            .reduce(into: "") { sql, piece in
                if !sql.isEmpty || index > 0 { index += 1; sql += "$\(index)" }
                sql += piece
            }
        var binds = PostgresBindings()
        for argument in arguments { binds.append(argument) }
        binds.append(Int64(limit))
        for value in extra { binds.append(value) }
        return PostgresQuery(unsafeSQL: """
            \(prefix)
            SELECT a.did, \(Self.shownHandle), s.score, t.xp, t.level, p.display_name FROM (
                SELECT account_id, SUM(xp)::bigint AS score FROM (\(numbered)) u GROUP BY account_id
            ) s JOIN accounts a ON a.id = s.account_id JOIN totals t ON t.account_id = a.id
            LEFT JOIN profiles p ON p.account_id = a.id
            WHERE s.score > 0 AND a.status = 'active' AND a.excluded = 0 AND a.unranked = 0
            ORDER BY s.score DESC, a.did ASC LIMIT $\(arguments.count + 1)
            \(suffix)
            """, binds: binds)
    }

    public func seasonArchive(_ name: String) throws -> [RankedAccount] {
        try lock.withLock { _ in
            try session.query("SELECT rank, did, handle, score, xp, level FROM season_archive WHERE season = \(name) ORDER BY rank").map { row in
                let (rank, did, handle, score, xp, level) = try row.decode((Int32, String, String?, Int64, Int64, Int32).self)
                return RankedAccount(rank: Int(rank), did: did, handle: handle, score: score, xp: xp, level: Int(level), displayName: nil)
            }
        }
    }

    public func archivedSeasons() throws -> [ArchivedSeason] {
        try lock.withLock { _ in
            try session.query("""
                SELECT season, min(start_us), min(end_us), min(archived_us), count(*) FROM season_archive
                GROUP BY season ORDER BY min(end_us) DESC
                """).map { row in
                let (name, start, end, archived, count) = try row.decode((String, Int64, Int64, Int64, Int64).self)
                return ArchivedSeason(name: name, startUS: start, endUS: end, archivedUS: archived, entries: Int(count))
            }
        }
    }

    public func leaderboard(limit: Int) throws -> [RankedAccount] {
        try top(limit: limit).enumerated().map { index, account in
            RankedAccount(rank: index + 1, did: account.did, handle: account.handle, score: account.xp, xp: account.xp, level: account.level,
                          displayName: account.displayName)
        }
    }

    public func status() throws -> StoreStatus {
        try lock.withLock { _ in
            var status = StoreStatus()
            if let row = try session.query("""
                SELECT min(time_us), max(updated_us) FROM cursor WHERE source = 'jetstream' OR source LIKE 'jetstream/%'
                """).first {
                let (cursor, updated) = try row.decode((Int64?, Int64?).self)
                status.cursorUS = cursor
                status.cursorUpdatedUS = updated
            }
            status.accounts = try session.query("SELECT count(*) FROM accounts").first?.decode(Int.self) ?? 0
            status.ledgerEntries = try session.query("SELECT count(*) FROM ledger").first?.decode(Int.self) ?? 0
            status.liveGrants = try session.query("SELECT count(*) FROM grants").first?.decode(Int.self) ?? 0
            status.milestones = try session.query("SELECT count(*) FROM milestones").first?.decode(Int.self) ?? 0
            for row in try session.query("SELECT state, count(*) FROM outbox GROUP BY state") {
                let (state, count) = try row.decode((String, Int).self)
                status.outbox[state] = count
            }
            for row in try session.query("SELECT key, value FROM bot_state WHERE key LIKE 'plugin_health:%'") {
                let (key, value) = try row.decode((String, String).self)
                status.pluginHealth[String(key.dropFirst("plugin_health:".count))] = value
            }
            return status
        }
    }

    public func activityTotals(did: String) throws -> [(String, Int64)] {
        try lock.withLock { _ in
            try session.query("""
                SELECT n.name, SUM(c.value)::bigint FROM counters c JOIN counter_names n ON n.id = c.counter_id
                JOIN accounts a ON a.id = c.account_id WHERE a.did = \(did) AND n.name NOT LIKE 'hour:%'
                GROUP BY n.name ORDER BY n.name COLLATE "C"
                """).map { try $0.decode((String, Int64).self) }
        }
    }

    public func activity(did: String, hourly: Bool) throws -> [(Int64, [(String, Int64)])] {
        let counters = try lock.withLock { _ in
            try session.query("""
                SELECT c.bucket, n.name, c.value FROM counters c JOIN counter_names n ON n.id = c.counter_id
                JOIN accounts a ON a.id = c.account_id WHERE a.did = \(did)
                """).map { row in
                let (bucket, name, value) = try row.decode((Int64, String, Int64).self)
                return (bucket: bucket, name: name, value: value)
            }
        }
        let ledger = try account(did).map { try self.ledger(account: $0.id, limit: 1_000_000) } ?? []
        return StoreQueries.activityBuckets(counters: counters, ledger: ledger, hourly: hourly)
    }

    /// Queues a moderator command for the host that owns the account; returns its id.
    public func enqueue(_ kind: ModeratorCommand.Kind, did: String, amount: Int64, reason: String, actor: String) throws -> Int64 {
        try lock.withLock { _ in
            try session.query("""
                INSERT INTO commands(kind, did, amount, reason, actor, created_us)
                VALUES (\(kind.rawValue), \(did), \(amount), \(reason), \(actor), \(Clock.nowMicroseconds())) RETURNING id
                """).first!.decode(Int64.self)
        }
    }

    public func enqueueImport(_ rows: [AccountImportRow], reason: String, actor: String) throws -> [Int64] {
        let now = Clock.nowMicroseconds()
        return try lock.withLock { _ in
            try session.transaction {
                var ids: [Int64] = []
                for start in stride(from: 0, to: rows.count, by: 10_000) {
                    let chunk = rows[start..<min(rows.count, start + 10_000)]
                    let dids = chunk.map(\.did), amounts = chunk.map(\.xp)
                    for row in try session.query("""
                        INSERT INTO commands(kind, did, amount, reason, actor, created_us)
                        SELECT 'import', d, a, \(reason), \(actor), \(now) FROM UNNEST(\(dids)::text[], \(amounts)::bigint[]) AS t(d, a)
                        RETURNING id
                        """) { ids.append(try row.decode(Int64.self)) }
                }
                return ids
            }
        }
    }

    /// Excludes an account from the rankings (or includes it again), with an audit line.
    public func setExcluded(_ didOrHandle: String, excluded: Bool, actor: String, reason: String) throws -> Bool {
        guard let account = try account(didOrHandle) else { return false }
        try lock.withLock { _ in
            try session.transaction {
                try session.query("UPDATE accounts SET excluded = \(excluded ? 1 : 0) WHERE id = \(account.id)")
                try session.query("""
                    INSERT INTO audit(time_us, actor, action, did, detail)
                    VALUES (\(Clock.nowMicroseconds()), \(actor), \(excluded ? "exclude" : "include"), \(account.did), \(reason))
                    """)
                // The owning host takes it into its rank tracker at its next batch.
                try session.query("""
                    INSERT INTO commands(kind, did, amount, reason, actor, created_us)
                    VALUES (\(excluded ? "exclude" : "include"), \(account.did), 0, \(reason), \(actor), \(Clock.nowMicroseconds()))
                    """)
            }
        }
        return true
    }
}

extension PostgresStore: ModerationReading {
    /// Ranking changes (entered / left a top N), newest first.
    public func rankEvents(limit: Int) throws -> [RankEventRecord] {
        try lock.withLock { _ in
            try session.query("""
                SELECT e.time_us, e.window_name, e.threshold, a.did, \(unescaped: Self.shownHandle), e.kind, e.rank
                FROM rank_events e JOIN accounts a ON a.id = e.account_id LEFT JOIN profiles p ON p.account_id = a.id ORDER BY e.time_us DESC, e.id DESC LIMIT \(Int64(limit))
                """).map { row in
                let (time, window, threshold, did, handle, kind, rank) = try row.decode((Int64, String, Int32, String, String?, String, Int32?).self)
                return RankEventRecord(timeUS: time, window: window, threshold: Int(threshold), did: did, handle: handle, kind: kind,
                                       rank: rank.map(Int.init))
            }
        }
    }

    /// The audit log, newest first.
    public func auditLog(limit: Int) throws -> [AuditRecord] {
        try lock.withLock { _ in
            try session.query("SELECT id, time_us, actor, action, did, detail FROM audit ORDER BY id DESC LIMIT \(Int64(limit))").map { row in
                let (id, time, actor, action, did, detail) = try row.decode((Int64, Int64, String, String, String?, String).self)
                return AuditRecord(id: id, timeUS: time, actor: actor, action: action, did: did, detail: detail)
            }
        }
    }
}
