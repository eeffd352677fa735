import BotHost
import PostgresNIO
import Synchronization

/// The moderators' outbox commands and the shadow-pack diff on PostgreSQL: the same
/// statements as the SQLite store's, so `outbox` and `rules diff` take `--store`.
extension PostgresStore: OutboxModeration {
    public func outboxMessages(states: [String], did: String?, limit: Int?) throws -> [OutboxMessage] {
        try lock.withLock { _ in
            var binds = PostgresBindings()
            var sql = "SELECT \(Self.outboxColumnList) FROM outbox o JOIN accounts a ON a.id = o.account_id LEFT JOIN profiles p ON p.account_id = a.id WHERE TRUE"
            if !states.isEmpty {
                binds.append(states)
                sql += " AND o.state = ANY($\(binds.count)::text[])"
            }
            if let did {
                binds.append(did)
                sql += " AND (a.did = $\(binds.count) OR lower(\(Self.shownHandle)) = lower($\(binds.count)))"
            }
            sql += " ORDER BY o.id"
            if let limit { sql += " LIMIT \(max(0, limit))" }
            return try session.query(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.outboxMessage)
        }
    }

    public func retryOutbox(ids: [Int64], allFailed: Bool, actor: String, nowUS: Int64) throws -> Int {
        try lock.withLock { _ in
            try session.transaction {
                var count = 0
                if allFailed {
                    count += try session.query("""
                        UPDATE outbox SET state = 'pending', next_at_us = 0, updated_us = \(nowUS), claimed_until = 0
                        WHERE state = 'failed' RETURNING id
                        """).count
                }
                if !ids.isEmpty {
                    count += try session.query("""
                        UPDATE outbox SET state = 'pending', next_at_us = 0, updated_us = \(nowUS), claimed_until = 0
                        WHERE (id = ANY(\(ids)::bigint[]) OR group_id = ANY(\(ids)::bigint[])) AND state IN ('failed', 'cancelled', 'skipped')
                        RETURNING id
                        """).count
                }
                let detail = allFailed ? "all failed" : ids.map(String.init).joined(separator: ",")
                // Only what changed state is audited: a retry that matched nothing did nothing.
                if count > 0 {
                    try session.query("INSERT INTO audit(time_us, actor, action, did, detail) VALUES (\(nowUS), \(actor), 'outbox-retry', NULL, \(detail))")
                }
                return count
            }
        }
    }

    public func cancelOutbox(ids: [Int64], actor: String, reason: String, nowUS: Int64) throws -> Int {
        try lock.withLock { _ in
            try session.transaction {
                let count = ids.isEmpty ? 0 : try session.query("""
                    UPDATE outbox SET state = 'cancelled', last_error = \("cancelled by \(actor): \(reason)"), updated_us = \(nowUS)
                    WHERE (id = ANY(\(ids)::bigint[]) OR group_id = ANY(\(ids)::bigint[])) AND state = 'pending' RETURNING id
                    """).count
                let detail = ids.map(String.init).joined(separator: ",") + ": " + reason
                if count > 0 {
                    try session.query("INSERT INTO audit(time_us, actor, action, did, detail) VALUES (\(nowUS), \(actor), 'outbox-cancel', NULL, \(detail))")
                }
                return count
            }
        }
    }
}

extension PostgresStore: ShadowReading {
    public func shadowDiff(limit: Int) throws -> ShadowDiff {
        try lock.withLock { _ in
            var diff = ShadowDiff()
            guard let pack = try session.query("""
                SELECT r.plugin, r.version FROM shadow_ledger l JOIN rules r ON r.id = l.rule_id ORDER BY l.id DESC LIMIT 1
                """).first else { return diff }
            let (plugin, version) = try pack.decode((String, String).self)
            diff.shadowPack = String(plugin.dropFirst("shadow:".count))
            diff.shadowVersion = version
            var byRule: [String: ShadowDiff.RuleTotals] = [:]
            for row in try session.query("""
                SELECT r.rule, SUM(l.amount)::bigint FROM ledger l JOIN rules r ON r.id = l.rule_id WHERE r.plugin != 'moderation' GROUP BY r.rule
                """) {
                let (name, xp) = try row.decode((String, Int64).self)
                byRule[name, default: .init(rule: name, liveXP: 0, shadowXP: 0)].liveXP += xp
            }
            for row in try session.query("SELECT r.rule, SUM(l.amount)::bigint FROM shadow_ledger l JOIN rules r ON r.id = l.rule_id GROUP BY r.rule") {
                let (name, xp) = try row.decode((String, Int64).self)
                byRule[name, default: .init(rule: name, liveXP: 0, shadowXP: 0)].shadowXP += xp
            }
            diff.rules = byRule.values.sorted { $0.rule < $1.rule }
            let differing = """
                FROM totals t JOIN accounts a ON a.id = t.account_id LEFT JOIN shadow_totals s ON s.account_id = t.account_id
                WHERE a.purged_us = 0 AND t.xp != COALESCE(s.xp, 0)
                """
            func count(_ sql: String) throws -> Int {
                try session.query(PostgresQuery(unsafeSQL: sql)).first.map { try $0.decode(Int64.self) }.map(Int.init) ?? 0
            }
            diff.accountsCompared = try count("SELECT count(*) FROM totals t JOIN accounts a ON a.id = t.account_id WHERE a.purged_us = 0")
            diff.accountsDiffering = try count("SELECT count(*) " + differing)
            diff.largestDifferences = try session.query(PostgresQuery(unsafeSQL: """
                SELECT a.did, a.handle, t.xp, t.level, COALESCE(s.xp, 0), COALESCE(s.level, 1) \(differing)
                ORDER BY abs(t.xp - COALESCE(s.xp, 0)) DESC, a.did LIMIT \(max(0, limit))
                """)).map {
                let (did, handle, xp, level, shadowXP, shadowLevel) = try $0.decode((String, String?, Int64, Int32, Int64, Int32).self)
                return ShadowDiff.Account(did: did, handle: handle, liveXP: xp, liveLevel: Int(level), shadowXP: shadowXP,
                                          shadowLevel: Int(shadowLevel))
            }
            diff.liveMilestones = try count("SELECT count(*) FROM milestones")
            diff.shadowMilestones = try count("SELECT count(*) FROM shadow_milestones")
            diff.onlyShadowMilestones = try count("""
                SELECT count(*) FROM shadow_milestones s WHERE NOT EXISTS
                (SELECT 1 FROM milestones m WHERE m.account_id = s.account_id AND m.level = s.level)
                """)
            diff.onlyLiveMilestones = try count("""
                SELECT count(*) FROM milestones m WHERE NOT EXISTS
                (SELECT 1 FROM shadow_milestones s WHERE s.account_id = m.account_id AND s.level = m.level)
                """)
            diff.extraAnnouncements = try count("""
                SELECT count(*) FROM shadow_milestones s JOIN accounts a ON a.id = s.account_id
                WHERE a.consent IN ('opted_in', 'no_ping') AND NOT EXISTS
                (SELECT 1 FROM milestones m WHERE m.account_id = s.account_id AND m.level = s.level)
                """)
            diff.missingAnnouncements = try count("""
                SELECT count(*) FROM milestones m JOIN accounts a ON a.id = m.account_id
                WHERE a.consent IN ('opted_in', 'no_ping') AND NOT EXISTS
                (SELECT 1 FROM shadow_milestones s WHERE s.account_id = m.account_id AND s.level = m.level)
                """)
            return diff
        }
    }
}
