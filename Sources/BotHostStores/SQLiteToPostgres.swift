import BotHost
import BotHostPostgres
import BotHostSQLite
import GRDB
import PostgresNIO
import Synchronization

/// `bothost migrate`: moves a bot's whole state from its SQLite file into an empty
/// PostgreSQL database, with its cursor, in one PostgreSQL transaction.
///
/// Everything is moved, not only what a host loads: the full ledger, every grant, the
/// outbox with its states and prepared records (so exactly-once posting carries over),
/// consent history, audit log, moderator commands, rankings, analytics counters. Ids
/// are the target's own; references between rows are mapped. The host must be stopped
/// (the CLI holds the SQLite file's host lock while copying).
public enum SQLiteToPostgres {
    /// Rows copied per table.
    public typealias Summary = [(table: String, rows: Int)]

    public static func copy(from source: Store, to target: PostgresStore) throws -> Summary {
        do {
            return try target.lock.withLock { _ in
                try target.session.transaction {
                    let existing = try target.session.query("SELECT count(*) FROM accounts").first!.decode(Int.self)
                    guard existing == 0 else {
                        throw StoreError("\(target.location) already holds \(existing) accounts; migrate into an empty database")
                    }
                    return try source.read { db in
                        var copier = Copier(db: db, session: target.session)
                        return try copier.run()
                    }
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw target.describe(error)
        }
    }
}

/// One migration's state: the id maps, filled table by table.
private struct Copier {
    let db: Database
    let session: PGSession
    var collections: [Int64: Int64] = [:]
    var rules: [Int64: Int64] = [:]
    var counters: [Int64: Int64] = [:]
    var accounts: [Int64: Int64] = [:]
    var summary: SQLiteToPostgres.Summary = []
    static let chunk = 5_000

    init(db: Database, session: PGSession) {
        self.db = db
        self.session = session
    }

    mutating func run() throws -> SQLiteToPostgres.Summary {
        collections = try dictionary("SELECT id, nsid FROM collections ORDER BY id") { values in
            "INSERT INTO collections(nsid) SELECT * FROM UNNEST(\(values)::text[]) ON CONFLICT (nsid) DO UPDATE SET nsid = EXCLUDED.nsid RETURNING id, nsid"
        }
        summary.append(("collections", collections.count))
        for row in try Row.fetchAll(db, sql: "SELECT id, plugin, rule, version FROM rules ORDER BY id") {
            let id = try session.query("""
                INSERT INTO rules(plugin, rule, version) VALUES (\(row[1] as String), \(row[2] as String), \(row[3] as String))
                ON CONFLICT (plugin, rule, version) DO UPDATE SET version = EXCLUDED.version RETURNING id
                """).first!.decode(Int64.self)
            rules[row[0]] = id
        }
        summary.append(("rules", rules.count))
        counters = try dictionary("SELECT id, name FROM counter_names ORDER BY id") { values in
            "INSERT INTO counter_names(name) SELECT * FROM UNNEST(\(values)::text[]) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name"
        }
        summary.append(("counter_names", counters.count))
        try copyAccounts()
        try copyGrants()
        try copyLedger("ledger", "SELECT account_id, collection_id, rkey, kind, amount, rule_id, time_us FROM ledger ORDER BY id")
        try copyLedger("shadow_ledger", "SELECT account_id, collection_id, rkey, kind, amount, rule_id, time_us FROM shadow_ledger ORDER BY id")
        try copyRows("milestones", "SELECT account_id, level, time_us FROM milestones", types: ["bigint", "integer", "bigint"], mapAccount: 0)
        try copyRows("shadow_milestones", "SELECT account_id, level, time_us FROM shadow_milestones", types: ["bigint", "integer", "bigint"], mapAccount: 0)
        try copyRows("shadow_totals", "SELECT account_id, xp, level, max_level FROM shadow_totals", types: ["bigint", "bigint", "integer", "integer"], mapAccount: 0)
        try copyRows("xp_hourly", "SELECT bucket, account_id, xp FROM xp_hourly", types: ["bigint", "bigint", "bigint"], mapAccount: 1)
        try copyRows("xp_daily", "SELECT bucket, account_id, xp FROM xp_daily", types: ["bigint", "bigint", "bigint"], mapAccount: 1)
        try copyRows("counters", "SELECT bucket, account_id, counter_id, value FROM counters", types: ["bigint", "bigint", "integer", "bigint"],
                     mapAccount: 1, mapCounter: 2)
        try copyRows("rule_limits", "SELECT account_id, slot, kind, key, value FROM rule_limits", types: ["bigint", "integer", "smallint", "bigint", "bigint"],
                     mapAccount: 0, mapCounter: 1)
        try copyRows("consent_log", "SELECT account_id, consent, source, time_us FROM consent_log ORDER BY id", types: ["bigint", "text", "text", "bigint"],
                     mapAccount: 0)
        try copyRows("rank_members", "SELECT window, threshold, account_id, entered_us, out_since_us FROM rank_members",
                     columns: "window_name, threshold, account_id, entered_us, out_since_us", types: ["text", "integer", "bigint", "bigint", "bigint"],
                     mapAccount: 2)
        try copyRows("rank_events", "SELECT time_us, window, threshold, account_id, kind, rank FROM rank_events ORDER BY id",
                     columns: "time_us, window_name, threshold, account_id, kind, rank", types: ["bigint", "text", "integer", "bigint", "text", "integer"],
                     mapAccount: 3)
        // Outbox, commands, audit and writes keep their ids: group_id and writes.outbox_id refer to them.
        try copyRows("outbox", """
            SELECT id, key, account_id, kind, payload, state, attempts, next_at_us, created_us, last_error, uri, cid, group_id, rkey, request, sent_us, updated_us
            FROM outbox ORDER BY id
            """, columns: "id, key, account_id, kind, payload, state, attempts, next_at_us, created_us, last_error, uri, cid, group_id, rkey, request, sent_us, updated_us",
                     types: ["bigint", "text", "bigint", "text", "text", "text", "integer", "bigint", "bigint", "text", "text", "text", "bigint", "text", "text", "bigint", "bigint"],
                     mapAccount: 2)
        try copyRows("commands", "SELECT id, kind, did, amount, reason, actor, created_us, state, applied_us, result FROM commands ORDER BY id",
                     columns: "id, kind, did, amount, reason, actor, created_us, state, applied_us, result",
                     types: ["bigint", "text", "text", "bigint", "text", "text", "bigint", "text", "bigint", "text"])
        try copyRows("audit", "SELECT id, time_us, actor, action, did, detail FROM audit ORDER BY id", columns: "id, time_us, actor, action, did, detail",
                     types: ["bigint", "bigint", "text", "text", "text", "text"])
        try copyRows("writes", "SELECT id, time_us, points, outbox_id FROM writes ORDER BY id", columns: "id, time_us, points, outbox_id",
                     types: ["bigint", "bigint", "integer", "bigint"])
        try copyRows("bot_state", "SELECT key, value FROM bot_state", columns: "key, value", types: ["text", "text"])
        try copyRows("cursor", "SELECT source, time_us, updated_us FROM cursor", columns: "source, time_us, updated_us", types: ["text", "bigint", "bigint"])
        for table in ["outbox", "commands", "audit", "writes"] {
            try session.query(PostgresQuery(unsafeSQL: "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), coalesce((SELECT max(id) FROM \(table)), 0) + 1, false)"))
        }
        // Labels keep their sequence numbers (consumers resume by them), and the sequence
        // continues after the highest ever issued, pruned ones included.
        try copyRows("labels", "SELECT seq, src, uri, val, neg, cts, exp, '\\x' || lower(hex(sig)) FROM labels ORDER BY seq",
                     columns: "seq, src, uri, val, neg, cts, exp, sig", types: ["bigint", "text", "text", "text", "boolean", "text", "text", "bytea"])
        try copyRows("label_current", "SELECT did, val, exp, seq FROM label_current", columns: "did, val, exp, seq",
                     types: ["text", "text", "text", "bigint"])
        let used = try db.tableExists("sqlite_sequence")
            ? try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'labels'") ?? 0 : 0
        try session.query(PostgresQuery(unsafeSQL: "SELECT setval(pg_get_serial_sequence('labels', 'seq'), \(used + 1), false)"))
        return summary
    }

    /// A dictionary table, inserted by natural key; old id to new id.
    private func dictionary(_ sql: String, insert: ([String]) -> PostgresQuery) throws -> [Int64: Int64] {
        let rows = try Row.fetchAll(db, sql: sql)
        guard !rows.isEmpty else { return [:] }
        let names = rows.map { $0[1] as String }
        var byName: [String: Int64] = [:]
        for row in try session.query(insert(names)) {
            let (id, name) = try row.decode((Int64, String).self)
            byName[name] = id
        }
        var map: [Int64: Int64] = [:]
        for row in rows { map[row[0]] = byName[row[1] as String] }
        return map
    }

    private mutating func copyAccounts() throws {
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT a.id, a.did, a.handle, a.handle_time_us, a.status, a.status_time_us, a.consent, a.purged_us, a.excluded, a.unranked,
                   t.xp, t.level, t.max_level, t.last_rev, t.last_ledger_id
            FROM accounts a LEFT JOIN totals t ON t.account_id = a.id ORDER BY a.id
            """)
        var count = 0
        var batch: [Row] = []
        func flush(_ rows: [Row], _ accounts: inout [Int64: Int64]) throws {
            guard !rows.isEmpty else { return }
            let dids = rows.map { $0[1] as String }
            let keys = dids.map { Partition.shardKey(Array($0.utf8)) }
            let handles = rows.map { ($0[2] as String?) ?? "" }
            let hasHandle = rows.map { ($0[2] as String?) != nil }
            let ints: (Int) -> [Int64] = { index in rows.map { ($0[index] as Int64?) ?? 0 } }
            let texts: (Int) -> [String] = { index in rows.map { $0[index] as String } }
            var byDID: [String: Int64] = [:]
            for row in try session.query("""
                INSERT INTO accounts(did, shard_key, handle, handle_time_us, status, status_time_us, consent, purged_us, excluded, unranked)
                SELECT d, k, CASE WHEN hh THEN h END, ht, s, st, c, p, e, u
                FROM UNNEST(\(dids)::text[], \(keys)::bigint[], \(handles)::text[], \(hasHandle)::bool[], \(ints(3))::bigint[], \(texts(4))::text[],
                            \(ints(5))::bigint[], \(texts(6))::text[], \(ints(7))::bigint[], \(ints(8))::integer[], \(ints(9))::integer[])
                    AS x(d, k, h, hh, ht, s, st, c, p, e, u)
                RETURNING id, did
                """) {
                let (id, did) = try row.decode((Int64, String).self)
                byDID[did] = id
            }
            var ids: [Int64] = [], xp: [Int64] = [], levels: [Int64] = [], maxLevels: [Int64] = [], revs: [Int64] = [], revTexts: [String] = []
            for row in rows {
                let id = byDID[row[1] as String]!
                accounts[row[0]] = id
                guard !(row[10] as DatabaseValue).isNull else { continue }
                ids.append(id)
                xp.append(row[10]); levels.append(row[11]); maxLevels.append(row[12])
                let rev: DatabaseValue = row[13]
                switch rev.storage {
                case let .int64(value): revs.append(value); revTexts.append("")
                case let .string(text): revs.append(-1); revTexts.append(text)
                default: revs.append(0); revTexts.append("")
                }
            }
            if !ids.isEmpty {
                try session.query("""
                    INSERT INTO totals(account_id, xp, level, max_level, last_rev, last_rev_text)
                    SELECT * FROM UNNEST(\(ids)::bigint[], \(xp)::bigint[], \(levels)::integer[], \(maxLevels)::integer[], \(revs)::bigint[], \(revTexts)::text[])
                    """)
            }
        }
        while let row = try cursor.next() {
            batch.append(row.copy())
            count += 1
            if batch.count == Self.chunk { try flush(batch, &accounts); batch.removeAll(keepingCapacity: true) }
        }
        try flush(batch, &accounts)
        summary.append(("accounts", count))
    }

    /// A record key as stored by SQLite (an INTEGER TID or TEXT) as the two columns.
    private static func rkey(_ value: DatabaseValue) -> (Int64, String) {
        switch value.storage {
        case let .int64(int): return (int, "")
        case let .string(text): return (-1, text)
        default: return (-1, "")
        }
    }

    private func collection(_ old: Int64) throws -> Int64 {
        let base = old >= 32_768 ? old - 32_768 : old
        guard let mapped = collections[base] else { throw StoreError("migrate: collection id \(base) is not in the collections table") }
        return old >= 32_768 ? mapped + 32_768 : mapped
    }

    private func account(_ old: Int64) throws -> Int64 {
        guard let mapped = accounts[old] else { throw StoreError("migrate: account id \(old) is not in the accounts table") }
        return mapped
    }

    private mutating func copyGrants() throws {
        let cursor = try Row.fetchCursor(db, sql: "SELECT rkey, account_id, collection_id, amount, tag, rule_id FROM grants")
        var columns = (rkeys: [Int64](), texts: [String](), accounts: [Int64](), collections: [Int64](), amounts: [Int64](), tags: [Int64](), rules: [Int64]())
        var count = 0
        func flush() throws {
            guard !columns.rkeys.isEmpty else { return }
            try session.query("""
                INSERT INTO grants(rkey, rkey_text, account_id, collection_id, amount, tag, rule_id)
                SELECT * FROM UNNEST(\(columns.rkeys)::bigint[], \(columns.texts)::text[], \(columns.accounts)::bigint[], \(columns.collections)::integer[],
                                     \(columns.amounts)::integer[], \(columns.tags)::smallint[], \(columns.rules)::integer[])
                """)
            columns = ([], [], [], [], [], [], [])
        }
        while let row = try cursor.next() {
            let (rkey, text) = Self.rkey(row[0])
            columns.rkeys.append(rkey); columns.texts.append(text)
            columns.accounts.append(try account(row[1])); columns.collections.append(try collection(row[2]))
            columns.amounts.append(row[3]); columns.tags.append(row[4]); columns.rules.append(rules[row[5] as Int64] ?? 0)
            count += 1
            if columns.rkeys.count == Self.chunk { try flush() }
        }
        try flush()
        summary.append(("grants", count))
    }

    private mutating func copyLedger(_ table: String, _ sql: String) throws {
        let cursor = try Row.fetchCursor(db, sql: sql)
        var c = (accounts: [Int64](), collections: [Int64](), rkeys: [Int64](), texts: [String](), kinds: [Int64](), amounts: [Int64](), rules: [Int64](), times: [Int64]())
        var count = 0
        func flush() throws {
            guard !c.accounts.isEmpty else { return }
            try session.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(table)(account_id, collection_id, rkey, rkey_text, kind, amount, rule_id, time_us)
                SELECT * FROM UNNEST($1::bigint[], $2::integer[], $3::bigint[], $4::text[], $5::smallint[], $6::integer[], $7::integer[], $8::bigint[])
                """, binds: {
                    var b = PostgresBindings()
                    b.append(c.accounts); b.append(c.collections); b.append(c.rkeys); b.append(c.texts)
                    b.append(c.kinds); b.append(c.amounts); b.append(c.rules); b.append(c.times)
                    return b
                }()))
            c = ([], [], [], [], [], [], [], [])
        }
        while let row = try cursor.next() {
            let (rkey, text) = Self.rkey(row[2])
            c.accounts.append(try account(row[0])); c.collections.append(try collection(row[1]))
            c.rkeys.append(rkey); c.texts.append(text); c.kinds.append(row[3]); c.amounts.append(row[4])
            c.rules.append(rules[row[5] as Int64] ?? 0); c.times.append(row[6])
            count += 1
            if c.accounts.count == Self.chunk { try flush() }
        }
        try flush()
        summary.append((table, count))
    }

    /// Copies a table column by column (each typed for UNNEST), mapping the account id
    /// and counter id columns given by index. NULLs are kept.
    private mutating func copyRows(_ table: String, _ sql: String, columns: String? = nil, types: [String],
                                   mapAccount: Int? = nil, mapCounter: Int? = nil) throws {
        let names = columns ?? {
            // The SELECT's column list, for tables whose names match.
            let list = sql.dropFirst("SELECT ".count).split(separator: " FROM ")[0]
            return String(list)
        }()
        let cursor = try Row.fetchCursor(db, sql: sql)
        var values: [[String?]] = Array(repeating: [], count: types.count)
        var count = 0
        func flush() throws {
            guard !values[0].isEmpty else { return }
            var binds = PostgresBindings()
            var selects: [String] = []
            for (index, type) in types.enumerated() {
                binds.append(values[index].map { $0 ?? "" })
                binds.append(values[index].map { $0 != nil })
                let text = "v\(index)", present = "p\(index)"
                selects.append("CASE WHEN \(present) THEN \(text)::\(type) END")
            }
            let unnest = types.indices.map { "$\($0 * 2 + 1)::text[], $\($0 * 2 + 2)::bool[]" }.joined(separator: ", ")
            let aliases = types.indices.map { "v\($0), p\($0)" }.joined(separator: ", ")
            try session.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(table)(\(names)) SELECT \(selects.joined(separator: ", ")) FROM UNNEST(\(unnest)) AS x(\(aliases))
                """, binds: binds))
            values = Array(repeating: [], count: types.count)
        }
        while let row = try cursor.next() {
            for index in types.indices {
                let value: DatabaseValue = row[index]
                var text: String?
                switch value.storage {
                case .null: text = nil
                case let .int64(int):
                    if index == mapAccount { text = String(try account(int)) }
                    else if index == mapCounter { text = String(counters[int] ?? 0) }
                    else { text = String(int) }
                case let .double(double): text = String(double)
                case let .string(string): text = string
                case .blob: text = nil
                }
                values[index].append(text)
            }
            count += 1
            if values[0].count == Self.chunk { try flush() }
        }
        try flush()
        summary.append((table, count))
    }
}
