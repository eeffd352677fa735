import GRDB
import Rules
import XRPCClient

/// One account as exported and shown by the CLI.
public struct AccountRecord: Sendable, Equatable {
    public var id: Int64
    public var did: String
    public var handle: String?
    public var xp: Int64
    public var level: Int
    /// Milestone levels reached, ascending.
    public var milestones: [Int]
    public var status: String
    public var consent: String
}

/// One ledger entry with its provenance, for `bothost user`.
public struct LedgerRecord: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var amount: Int64
    public var plugin: String
    public var rule: String
    public var version: String
    /// `at://did/collection/rkey` of the event that produced it.
    public var uri: String
    public var timeUS: Int64
}

extension Store {
    private static let accountColumns = """
        a.id, a.did, a.handle, t.xp, t.level, a.status, a.consent,
        (SELECT group_concat(level) FROM (SELECT level FROM milestones m WHERE m.account_id = a.id ORDER BY level))
        """

    private static func account(_ row: Row) -> AccountRecord {
        let milestones = (row[7] as String?)?.split(separator: ",").compactMap { Int($0) } ?? []
        return AccountRecord(id: row[0], did: row[1], handle: row[2], xp: row[3], level: row[4],
                             milestones: milestones, status: row[5], consent: row[6])
    }

    /// Calls `body` for every account, ordered by DID (streams; constant memory).
    public func forEachAccount(_ body: (AccountRecord) throws -> Void) throws {
        try queue.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT \(Self.accountColumns) FROM accounts a JOIN totals t ON t.account_id = a.id ORDER BY a.did")
            while let row = try rows.next() { try body(Self.account(row)) }
        }
    }

    /// Finds an account by DID, or by handle (with or without a leading `@`).
    public func account(_ didOrHandle: String) throws -> AccountRecord? {
        try queue.read { db in
            let key = didOrHandle.hasPrefix("@") ? String(didOrHandle.dropFirst()) : didOrHandle
            let sql = key.hasPrefix("did:")
                ? "SELECT \(Self.accountColumns) FROM accounts a JOIN totals t ON t.account_id = a.id WHERE a.did = ?"
                : "SELECT \(Self.accountColumns) FROM accounts a JOIN totals t ON t.account_id = a.id WHERE a.handle = ? COLLATE NOCASE ORDER BY a.handle_time_us DESC LIMIT 1"
            return try Row.fetchOne(db, sql: sql, arguments: [key]).map(Self.account)
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
                SELECT \(Self.accountColumns) FROM totals t JOIN accounts a ON a.id = t.account_id
                WHERE a.status = 'active' AND t.xp > 0 ORDER BY t.xp DESC, a.did LIMIT ?
                """, arguments: [limit]).map(Self.account)
        }
    }
}
