import BotHost
import XRPCClient
import GRDB

/// The outbox as the dispatcher and the moderators' CLI use it. Each state change is
/// its own small transaction, committed before the network call it precedes or after
/// the one it records, so a crash at any point leaves a row that tells what to do next.
extension Store {
    static let outboxColumns = """
        o.id, o.key, o.kind, a.did, \(Store.shownHandle), o.state, o.attempts, o.next_at_us, o.created_us, o.last_error,
        o.uri, o.cid, o.group_id, o.rkey, o.request, o.sent_us, o.payload, a.consent, a.status
        """

    static func message(_ row: Row) -> OutboxMessage {
        OutboxMessage(
            id: row[0], key: row[1], kind: row[2], did: row[3], handle: row[4], state: row[5], attempts: row[6],
            nextAtUS: row[7], createdUS: row[8], lastError: row[9], uri: row[10], cid: row[11], groupID: row[12],
            rkey: row[13], request: row[14], sentUS: row[15], payload: row[16],
            consent: Consent(name: row[17]) ?? .none, status: row[18])
    }

    /// Messages for the CLI, oldest first; `states` empty means all.
    public func outboxMessages(states: [String] = [], did: String? = nil, limit: Int? = nil) throws -> [OutboxMessage] {
        try queue.read { db in
            var sql = "SELECT \(Self.outboxColumns) FROM outbox o JOIN accounts a ON a.id = o.account_id LEFT JOIN profiles p ON p.account_id = a.id WHERE 1"
            var arguments: [any DatabaseValueConvertible] = []
            if !states.isEmpty {
                sql += " AND o.state IN (\(states.map { _ in "?" }.joined(separator: ",")))"
                arguments += states
            }
            if let did {
                sql += " AND (a.did = ? OR \(Self.shownHandle) = ?)"
                arguments += [did, did]
            }
            sql += " ORDER BY o.id"
            if let limit { sql += " LIMIT \(limit)" }
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.message)
        }
    }

    /// Pending messages due at `nowUS`, oldest first.
    public func dueMessages(nowUS: Int64, limit: Int = 200) throws -> [OutboxMessage] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.outboxColumns) FROM outbox o JOIN accounts a ON a.id = o.account_id LEFT JOIN profiles p ON p.account_id = a.id
                WHERE o.state = 'pending' AND o.next_at_us <= ? ORDER BY o.id LIMIT ?
                """, arguments: [nowUS, limit]).map(Self.message)
        }
    }

    /// The earliest time a pending message becomes due, or `nil` when none is pending.
    public func nextDueUS() throws -> Int64? {
        try queue.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(next_at_us) FROM outbox WHERE state = 'pending'")
        }
    }

    /// Counts of messages by state.
    public func outboxCounts() throws -> [String: Int] {
        try queue.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) FROM outbox GROUP BY state") {
                counts[row[0]] = row[1]
            }
            return counts
        }
    }

    /// Moves messages to a final state (`cancelled`, `skipped`, `failed`) with a reason;
    /// only pending ones, so a message already sent stays sent.
    public func finishOutbox(_ ids: [Int64], state: String, reason: String, nowUS: Int64) throws {
        guard !ids.isEmpty else { return }
        try queue.write { db in
            let statement = try db.cachedStatement(sql: """
                UPDATE outbox SET state = ?, last_error = ?, updated_us = ? WHERE (id = ? OR group_id = ?) AND state IN ('pending', 'sending')
                """)
            for id in ids { try statement.execute(arguments: [state, reason, nowUS, id, id]) }
        }
    }

    /// Stores a prepared post (its record and key) on the lead message of a group, and
    /// ties the other messages of the group to it.
    @discardableResult
    public func prepareOutbox(lead: Int64, members: [Int64], rkey: String, request: String, nowUS: Int64) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "UPDATE outbox SET rkey = ?, request = ?, group_id = ?, updated_us = ? WHERE id = ?",
                           arguments: [rkey, request, lead, nowUS, lead])
            for member in members where member != lead {
                try db.execute(sql: "UPDATE outbox SET group_id = ?, updated_us = ? WHERE id = ?", arguments: [lead, nowUS, member])
            }
            return true  // one dispatcher per file
        }
    }

    /// Whether a record key is already used by another message.
    public func outboxRKeyTaken(_ rkey: String, except id: Int64) throws -> Bool {
        try queue.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM outbox WHERE rkey = ? AND id != ?)", arguments: [rkey, id]) ?? false
        }
    }

    /// Counts an attempt before it is made (so a crash during it is known to have maybe
    /// landed) and records the points it may spend.
    public func beginAttempt(_ id: Int64, points: Int, nowUS: Int64, checks: SendChecks) throws -> AttemptStart {
        try queue.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT o.state, a.consent, a.status FROM outbox o JOIN accounts a ON a.id = o.account_id WHERE o.id = ?
                """, arguments: [id]), (row[0] as String) == "pending" else { return .notPending }
            let decision = checks.decide(consent: row[1], status: row[2])
            guard decision == .started else { return decision }
            try db.execute(sql: "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_us = ? WHERE id = ? AND state = 'pending'",
                           arguments: [nowUS, id])
            if points > 0 {
                try db.execute(sql: "INSERT INTO writes(time_us, points, outbox_id) VALUES (?, ?, ?)", arguments: [nowUS, points, id])
            }
            return .started
        }
    }

    public func recordLive(did: String, collection: String, rkey: String) throws -> Bool? {
        var key = rkey
        let value: any DatabaseValueConvertible = key.withUTF8 { TID.parse(UnsafeRawBufferPointer($0)) }.map { Int64(bitPattern: $0) } ?? rkey
        return try queue.read { db in
            try Bool.fetchOne(db, sql: """
                SELECT EXISTS(SELECT 1 FROM grants g JOIN accounts a ON a.id = g.account_id JOIN collections c ON c.id = g.collection_id
                              WHERE a.did = ? AND c.nsid = ? AND g.rkey = ?)
                """, arguments: [did, collection, value])
        }
    }

    /// One dispatcher per SQLite file (the host lock): a lease is always its own.
    public func renewLease(_ id: Int64, nowUS: Int64) throws -> Bool { true }

    public func recoverSending(nowUS: Int64) throws -> Int {
        try queue.write { db in
            try db.execute(sql: "UPDATE outbox SET state = 'pending', updated_us = ? WHERE state = 'sending'", arguments: [nowUS])
            return db.changesCount
        }
    }

    /// Gives back the points of an attempt the server certainly did not apply (a 429, a
    /// refused connection, a rejected record).
    public func refundAttempt(_ id: Int64) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM writes WHERE id = (SELECT MAX(id) FROM writes WHERE outbox_id = ?)", arguments: [id])
        }
    }

    /// Records a delivered message (and the group it leads).
    public func markSent(_ id: Int64, uri: String, cid: String?, nowUS: Int64) throws {
        try queue.write { db in
            try db.execute(sql: """
                UPDATE outbox SET state = 'sent', uri = ?, cid = ?, sent_us = ?, last_error = NULL, updated_us = ?
                WHERE (id = ? OR group_id = ?) AND state IN ('pending', 'sending')
                """, arguments: [uri, cid, nowUS, nowUS, id, id])
        }
    }

    /// Schedules another attempt, or fails the message when it has had enough.
    public func markRetry(_ id: Int64, error: String, nextAtUS: Int64, fail: Bool, nowUS: Int64) throws {
        try queue.write { db in
            try db.execute(sql: """
                UPDATE outbox SET state = CASE WHEN ? THEN 'failed' ELSE 'pending' END, last_error = ?, next_at_us = ?, updated_us = ?
                WHERE (id = ? OR group_id = ?) AND state IN ('pending', 'sending')
                """, arguments: [fail, error, nextAtUS, nowUS, id, id])
        }
    }

    /// Defers messages without counting an attempt (a rate-limit window, the budget).
    public func deferOutbox(_ ids: [Int64], untilUS: Int64) throws {
        try queue.write { db in
            for id in ids {
                try db.execute(sql: "UPDATE outbox SET next_at_us = ? WHERE (id = ? OR group_id = ?) AND state = 'pending'",
                               arguments: [untilUS, id, id])
            }
        }
    }

    /// Confirmations sent to an account since `accountSinceUS`, and to anyone since `allSinceUS`.
    public func confirmationsSent(accountDID: String, accountSinceUS: Int64, allSinceUS: Int64) throws -> (account: Int, all: Int) {
        try queue.read { db in
            let account = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM outbox o JOIN accounts a ON a.id = o.account_id
                WHERE o.kind = 'confirm' AND o.state = 'sent' AND a.did = ? AND o.sent_us > ?
                """, arguments: [accountDID, accountSinceUS]) ?? 0
            let all = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE kind = 'confirm' AND state = 'sent' AND sent_us > ?",
                                       arguments: [allSinceUS]) ?? 0
            return (account, all)
        }
    }

    /// The budget spent and the server's last figures.
    public func writeBudget(nowUS: Int64) throws -> WriteBudgetState {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM writes WHERE time_us <= ?", arguments: [nowUS - 86_400_000_000])
            let day = try Row.fetchAll(db, sql: "SELECT time_us, points FROM writes ORDER BY time_us").map { (timeUS: $0[0] as Int64, points: $0[1] as Int) }
            return WriteBudgetState(nowUS: nowUS, dayWrites: day,
                                    rateLimit: try String.fetchOne(db, sql: "SELECT value FROM bot_state WHERE key = 'ratelimit'"))
        }
    }

    /// Stores the server's `RateLimit-*` figures from the last write.
    public func saveServerRateLimit(remaining: Int?, limit: Int?, reset: Int64?) throws {
        try setBotState("ratelimit", WriteBudgetState.rateLimitText(remaining: remaining, limit: limit, reset: reset))
    }

    public func botState(_ key: String) throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM bot_state WHERE key = ?", arguments: [key]) }
    }

    public func setBotState(_ key: String, _ value: String) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO bot_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: [key, value])
        }
    }

    /// Puts failed (or, with `includeCancelled`, cancelled/skipped) messages back in the
    /// queue with a fresh attempt count; returns how many.
    @discardableResult
    public func retryOutbox(ids: [Int64], allFailed: Bool, actor: String, nowUS: Int64) throws -> Int {
        try queue.write { db in
            var count = 0
            if allFailed {
                try db.execute(sql: "UPDATE outbox SET state = 'pending', next_at_us = 0, updated_us = ? WHERE state = 'failed'", arguments: [nowUS])
                count += db.changesCount
            }
            for id in ids {
                try db.execute(sql: """
                    UPDATE outbox SET state = 'pending', next_at_us = 0, updated_us = ?
                    WHERE (id = ? OR group_id = ?) AND state IN ('failed', 'cancelled', 'skipped')
                    """, arguments: [nowUS, id, id])
                count += db.changesCount
            }
            // Only what changed state is audited: a retry that matched nothing did nothing.
            if count > 0 {
                try db.execute(sql: "INSERT INTO audit(time_us, actor, action, did, detail) VALUES (?, ?, 'outbox-retry', NULL, ?)",
                               arguments: [nowUS, actor, allFailed ? "all failed" : ids.map(String.init).joined(separator: ",")])
            }
            return count
        }
    }

    /// Cancels pending messages; returns how many.
    @discardableResult
    public func cancelOutbox(ids: [Int64], actor: String, reason: String, nowUS: Int64) throws -> Int {
        try queue.write { db in
            var count = 0
            for id in ids {
                try db.execute(sql: """
                    UPDATE outbox SET state = 'cancelled', last_error = ?, updated_us = ? WHERE (id = ? OR group_id = ?) AND state = 'pending'
                    """, arguments: ["cancelled by \(actor): \(reason)", nowUS, id, id])
                count += db.changesCount
            }
            if count > 0 {
                try db.execute(sql: "INSERT INTO audit(time_us, actor, action, did, detail) VALUES (?, ?, 'outbox-cancel', NULL, ?)",
                               arguments: [nowUS, actor, ids.map(String.init).joined(separator: ",") + ": " + reason])
            }
            return count
        }
    }
}
