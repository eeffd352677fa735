import BotHost
import XRPCClient
import Foundation
import PostgresNIO
import Synchronization

/// The outbox on PostgreSQL, for several dispatchers (one per partitioned host).
///
/// A dispatcher takes due messages with `FOR UPDATE SKIP LOCKED` and holds them under a
/// lease (`claimed_by`, `claimed_until`): another dispatcher skips them until the lease
/// runs out, so two never prepare, coalesce or attempt the same message at once. A
/// dispatcher that dies mid-attempt leaves a message whose lease expires; the next one
/// finds its attempt counted and its record key stored, looks the post up under that
/// key before writing, and so never posts it twice.
extension PostgresStore: OutboxStore {

    static let outboxColumnList = """
        o.id, o.key, o.kind, a.did, \(PostgresStore.shownHandle), o.state, o.attempts, o.next_at_us, o.created_us, o.last_error,
        o.uri, o.cid, o.group_id, o.rkey, o.request, o.sent_us, o.payload, a.consent, a.status
        """

    static func outboxMessage(_ row: PostgresRow) throws -> OutboxMessage {
        let (id, key, kind, did, handle, state, attempts, nextAt, created, lastError) =
            try row.decode((Int64, String, String, String, String?, String, Int32, Int64, Int64, String?).self)
        let cells = row.makeRandomAccess()
        let uri = try cells[10].decode(String?.self)
        let cid = try cells[11].decode(String?.self)
        let group = try cells[12].decode(Int64?.self)
        let rkey = try cells[13].decode(String?.self)
        let request = try cells[14].decode(String?.self)
        let sent = try cells[15].decode(Int64?.self)
        let payload = try cells[16].decode(String.self)
        let consent = try cells[17].decode(String.self)
        let status = try cells[18].decode(String.self)
        return OutboxMessage(id: id, key: key, kind: kind, did: did, handle: handle, state: state, attempts: Int(attempts),
                             nextAtUS: nextAt, createdUS: created, lastError: lastError, uri: uri, cid: cid, groupID: group,
                             rkey: rkey, request: request, sentUS: sent, payload: payload,
                             consent: Consent(name: consent) ?? .none, status: status)
    }

    /// Claims up to `limit` due messages for this dispatcher (and renews its own claims).
    public func dueMessages(nowUS: Int64, limit: Int) throws -> [OutboxMessage] {
        try lock.withLock { _ in
            try session.transaction {
                let claimed = try session.query("""
                    WITH picked AS (
                        SELECT id FROM outbox
                        WHERE ((state = 'pending' AND next_at_us <= \(nowUS) AND (claimed_until < \(nowUS) OR claimed_by = \(dispatcherID)))
                               OR (state = 'sending' AND claimed_until < \(nowUS)))
                        ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    UPDATE outbox o SET claimed_by = \(dispatcherID), claimed_until = \(nowUS + leaseUS), state = 'pending'
                    FROM picked WHERE o.id = picked.id RETURNING o.id
                    """).map { try $0.decode(Int64.self) }
                guard !claimed.isEmpty else { return [] }
                return try session.query("""
                    SELECT \(unescaped: Self.outboxColumnList) FROM outbox o JOIN accounts a ON a.id = o.account_id
                    LEFT JOIN profiles p ON p.account_id = a.id
                    WHERE o.id = ANY(\(claimed)::bigint[]) ORDER BY o.id
                    """).map(Self.outboxMessage)
            }
        }
    }

    public func nextDueUS() throws -> Int64? {
        try lock.withLock { _ in
            try session.query("SELECT min(GREATEST(next_at_us, claimed_until)) FROM outbox WHERE state = 'pending'").first?.decode(Int64?.self) ?? nil
        }
    }

    public func outboxCounts() throws -> [String: Int] {
        try lock.withLock { _ in
            var counts: [String: Int] = [:]
            for row in try session.query("SELECT state, count(*) FROM outbox GROUP BY state") {
                let (state, count) = try row.decode((String, Int).self)
                counts[state] = count
            }
            return counts
        }
    }

    /// Runs one small statement set in its own transaction.
    private func write(_ body: () throws -> Void) throws {
        try lock.withLock { _ in try session.transaction(body) }
    }

    public func finishOutbox(_ ids: [Int64], state: String, reason: String, nowUS: Int64) throws {
        guard !ids.isEmpty else { return }
        try write {
            try session.query("""
                UPDATE outbox SET state = \(state), last_error = \(reason), updated_us = \(nowUS), claimed_until = 0
                WHERE (id = ANY(\(ids)::bigint[]) OR group_id = ANY(\(ids)::bigint[])) AND state IN ('pending', 'sending')
                  AND (claimed_by = \(dispatcherID) OR claimed_by IS NULL OR claimed_until < \(nowUS))
                """)
        }
    }

    /// The fence for preparation: every member must still be pending under this
    /// dispatcher's live claim and in no other group. Otherwise another dispatcher took one
    /// while this one was preparing (a slow handle lookup), and preparing a second group
    /// over the same messages could announce them twice under two keys.
    @discardableResult
    public func prepareOutbox(lead: Int64, members: [Int64], rkey: String, request: String, nowUS: Int64) throws -> Bool {
        var prepared = false
        try write {
            let held = try session.query("""
                SELECT id FROM outbox WHERE id = ANY(\(members)::bigint[]) AND state = 'pending' AND claimed_by = \(dispatcherID)
                  AND claimed_until >= \(nowUS) AND (group_id IS NULL OR group_id = \(lead)) FOR UPDATE
                """)
            guard held.count == Set(members).count else { return }
            try session.query("""
                UPDATE outbox SET rkey = \(rkey), request = \(request), group_id = \(lead), updated_us = \(nowUS), claimed_until = \(nowUS + leaseUS)
                WHERE id = \(lead)
                """)
            let others = members.filter { $0 != lead }
            if !others.isEmpty {
                try session.query("UPDATE outbox SET group_id = \(lead), updated_us = \(nowUS), claimed_until = \(nowUS + leaseUS) WHERE id = ANY(\(others)::bigint[])")
            }
            prepared = true
        }
        return prepared
    }

    public func outboxRKeyTaken(_ rkey: String, except id: Int64) throws -> Bool {
        try lock.withLock { _ in
            try session.query("SELECT EXISTS(SELECT 1 FROM outbox WHERE rkey = \(rkey) AND id != \(id))").first!.decode(Bool.self)
        }
    }

    /// The fence: the row must be pending, claimed by this dispatcher, and its lease still
    /// running; the account row is locked with it, so a consent change commits either
    /// before (and is seen here) or after the message is `sending`.
    public func beginAttempt(_ id: Int64, points: Int, nowUS: Int64, checks: SendChecks) throws -> AttemptStart {
        var result = AttemptStart.notPending
        try write {
            guard let row = try session.query("""
                SELECT o.state, o.claimed_by, o.claimed_until, a.consent, a.status FROM outbox o JOIN accounts a ON a.id = o.account_id
                WHERE o.id = \(id) FOR UPDATE OF o, a
                """).first else { return }
            let (state, claimedBy, claimedUntil, consent, status) = try row.decode((String, String?, Int64, String, String).self)
            guard state == "pending", claimedBy == dispatcherID, claimedUntil >= nowUS else { return }
            result = checks.decide(consent: consent, status: status)
            guard result == .started else { return }
            try session.query("""
                UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_us = \(nowUS), claimed_until = \(nowUS + leaseUS)
                WHERE id = \(id)
                """)
            if points > 0 {
                try session.query("INSERT INTO writes(time_us, points, outbox_id) VALUES (\(nowUS), \(points), \(id))")
            }
        }
        return result
    }

    public func recordLive(did: String, collection: String, rkey: String) throws -> Bool? {
        var key = rkey
        let tid = key.withUTF8 { TID.parse(UnsafeRawBufferPointer($0)) }.map { Int64(bitPattern: $0) }
        let (value, text) = tid.map { ($0, "") } ?? (Int64(-1), rkey)
        return try lock.withLock { _ in
            try session.query("""
                SELECT EXISTS(SELECT 1 FROM grants g JOIN accounts a ON a.id = g.account_id JOIN collections c ON c.id = g.collection_id
                              WHERE a.did = \(did) AND c.nsid = \(collection) AND g.rkey = \(value) AND g.rkey_text = \(text))
                """).first?.decode(Bool.self)
        }
    }

    public func renewLease(_ id: Int64, nowUS: Int64) throws -> Bool {
        var renewed = false
        try write {
            let rows = try session.query("""
                UPDATE outbox SET claimed_until = \(nowUS + leaseUS)
                WHERE id = \(id) AND state = 'sending' AND claimed_by = \(dispatcherID) RETURNING id
                """)
            renewed = !rows.isEmpty
        }
        return renewed
    }

    /// Expired `sending` leases go back to pending when a dispatcher claims them
    /// (``dueMessages(nowUS:limit:)``); nothing to do beforehand.
    public func recoverSending(nowUS: Int64) throws -> Int { 0 }

    public func refundAttempt(_ id: Int64) throws {
        try write {
            try session.query("DELETE FROM writes WHERE id = (SELECT max(id) FROM writes WHERE outbox_id = \(id))")
        }
    }

    public func markSent(_ id: Int64, uri: String, cid: String?, nowUS: Int64) throws {
        try write {
            try session.query("""
                UPDATE outbox SET state = 'sent', uri = \(uri), cid = \(cid), sent_us = \(nowUS), last_error = NULL, updated_us = \(nowUS),
                    claimed_until = 0
                WHERE (id = \(id) OR group_id = \(id)) AND state IN ('pending', 'sending')
                """)
        }
    }

    public func markRetry(_ id: Int64, error: String, nextAtUS: Int64, fail: Bool, nowUS: Int64) throws {
        try write {
            try session.query("""
                UPDATE outbox SET state = CASE WHEN \(fail) THEN 'failed' ELSE 'pending' END, last_error = \(error), next_at_us = \(nextAtUS),
                    updated_us = \(nowUS), claimed_until = 0
                WHERE (id = \(id) OR group_id = \(id)) AND state IN ('pending', 'sending') AND claimed_by = \(dispatcherID)
                """)
        }
    }

    public func deferOutbox(_ ids: [Int64], untilUS: Int64) throws {
        guard !ids.isEmpty else { return }
        try write {
            try session.query("""
                UPDATE outbox SET next_at_us = \(untilUS), claimed_until = 0
                WHERE (id = ANY(\(ids)::bigint[]) OR group_id = ANY(\(ids)::bigint[])) AND state = 'pending'
                """)
        }
    }

    public func confirmationsSent(accountDID: String, accountSinceUS: Int64, allSinceUS: Int64) throws -> (account: Int, all: Int) {
        try lock.withLock { _ in
            let account = try session.query("""
                SELECT count(*) FROM outbox o JOIN accounts a ON a.id = o.account_id
                WHERE o.kind = 'confirm' AND o.state = 'sent' AND a.did = \(accountDID) AND o.sent_us > \(accountSinceUS)
                """).first!.decode(Int.self)
            let all = try session.query("SELECT count(*) FROM outbox WHERE kind = 'confirm' AND state = 'sent' AND sent_us > \(allSinceUS)")
                .first!.decode(Int.self)
            return (account, all)
        }
    }

    /// The bot account's budget spent, shared by every dispatcher (one `writes` table).
    public func writeBudget(nowUS: Int64) throws -> WriteBudgetState {
        try lock.withLock { _ in
            try session.transaction {
                try session.query("DELETE FROM writes WHERE time_us <= \(nowUS - 86_400_000_000)")
                let day = try session.query("SELECT time_us, points FROM writes ORDER BY time_us").map { row in
                    let (time, points) = try row.decode((Int64, Int32).self)
                    return (timeUS: time, points: Int(points))
                }
                let text = try session.query("SELECT value FROM bot_state WHERE key = 'ratelimit'").first?.decode(String.self)
                return WriteBudgetState(nowUS: nowUS, dayWrites: day, rateLimit: text)
            }
        }
    }

    public func saveServerRateLimit(remaining: Int?, limit: Int?, reset: Int64?) throws {
        try setBotState("ratelimit", WriteBudgetState.rateLimitText(remaining: remaining, limit: limit, reset: reset))
    }

    public func botState(_ key: String) throws -> String? {
        try lock.withLock { _ in try session.query("SELECT value FROM bot_state WHERE key = \(key)").first?.decode(String.self) }
    }

    public func setBotState(_ key: String, _ value: String) throws {
        try write {
            try session.query("""
                INSERT INTO bot_state(key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                """)
        }
    }
}
