import BotHost
import PostgresNIO
import Synchronization

/// The read side on PostgreSQL: what `bothost export`, `user`, `top` and the HTTP API
/// read. Works the same on a streaming replica (every query is read-only).
extension PostgresStore: AccountReading {
    private static let accountColumns = """
        a.id, a.did, a.handle, t.xp, t.level, a.status, a.consent,
        (SELECT string_agg(m.level::text, ',' ORDER BY m.level) FROM milestones m WHERE m.account_id = a.id)
        """

    private static func account(_ row: PostgresRow) throws -> AccountRecord {
        let (id, did, handle, xp, level, status, consent, milestones) =
            try row.decode((Int64, String, String?, Int64, Int32, String, String, String?).self)
        return AccountRecord(id: id, did: did, handle: handle, xp: xp, level: Int(level),
                             milestones: milestones?.split(separator: ",").compactMap { Int($0) } ?? [],
                             status: status, consent: consent)
    }

    /// Calls `body` for every account, ordered by DID, in pages (constant memory).
    public func forEachAccount(_ body: (AccountRecord) throws -> Void) throws {
        var after = ""
        while true {
            let page = try lock.withLock { _ in
                try session.query(PostgresQuery(unsafeSQL: """
                    SELECT \(Self.accountColumns) FROM accounts a JOIN totals t ON t.account_id = a.id
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
            ? "SELECT \(Self.accountColumns) FROM accounts a JOIN totals t ON t.account_id = a.id WHERE a.did = $1"
            : "SELECT \(Self.accountColumns) FROM accounts a JOIN totals t ON t.account_id = a.id WHERE lower(a.handle) = lower($1) ORDER BY a.handle_time_us DESC LIMIT 1"
        var binds = PostgresBindings()
        binds.append(key)
        return try lock.withLock { _ in try session.query(PostgresQuery(unsafeSQL: sql, binds: binds)) }.first.map(Self.account)
    }

    /// The all-time leaderboard: active, ranked accounts by XP (ties by DID).
    public func top(limit: Int) throws -> [AccountRecord] {
        try lock.withLock { _ in
            try session.query(PostgresQuery(unsafeSQL: """
                SELECT \(Self.accountColumns) FROM totals t JOIN accounts a ON a.id = t.account_id
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
