import BotHost
import GRDB

extension Store {
    /// Compares the shadow ledger, totals and milestones with the live ones.
    public func shadowDiff(limit: Int = 20) throws -> ShadowDiff {
        try queue.read { db in
            var diff = ShadowDiff()
            let packRow = try Row.fetchOne(db, sql: """
                SELECT r.plugin, r.version FROM shadow_ledger l JOIN rules r ON r.id = l.rule_id ORDER BY l.id DESC LIMIT 1
                """)
            guard let packRow else { return diff }
            diff.shadowPack = String((packRow[0] as String).dropFirst("shadow:".count))
            diff.shadowVersion = packRow[1]
            var byRule: [String: ShadowDiff.RuleTotals] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT r.rule, SUM(l.amount) FROM ledger l JOIN rules r ON r.id = l.rule_id
                WHERE r.plugin != 'moderation' GROUP BY r.rule
                """) {
                let name: String = row[0]
                byRule[name, default: .init(rule: name, liveXP: 0, shadowXP: 0)].liveXP += row[1] as Int64
            }
            for row in try Row.fetchAll(db, sql: "SELECT r.rule, SUM(l.amount) FROM shadow_ledger l JOIN rules r ON r.id = l.rule_id GROUP BY r.rule") {
                let name: String = row[0]
                byRule[name, default: .init(rule: name, liveXP: 0, shadowXP: 0)].shadowXP += row[1] as Int64
            }
            diff.rules = byRule.values.sorted { $0.rule < $1.rule }
            let differing = """
                FROM totals t JOIN accounts a ON a.id = t.account_id LEFT JOIN shadow_totals s ON s.account_id = t.account_id
                WHERE a.purged_us = 0 AND t.xp != COALESCE(s.xp, 0)
                """
            diff.accountsCompared = try Int.fetchOne(db, sql: "SELECT count(*) FROM totals t JOIN accounts a ON a.id = t.account_id WHERE a.purged_us = 0") ?? 0
            diff.accountsDiffering = try Int.fetchOne(db, sql: "SELECT count(*) " + differing) ?? 0
            diff.largestDifferences = try Row.fetchAll(db, sql: """
                SELECT a.did, a.handle, t.xp, t.level, COALESCE(s.xp, 0), COALESCE(s.level, 1) \(differing)
                ORDER BY abs(t.xp - COALESCE(s.xp, 0)) DESC, a.did LIMIT ?
                """, arguments: [limit]).map {
                ShadowDiff.Account(did: $0[0], handle: $0[1], liveXP: $0[2], liveLevel: $0[3], shadowXP: $0[4], shadowLevel: $0[5])
            }
            diff.liveMilestones = try Int.fetchOne(db, sql: "SELECT count(*) FROM milestones") ?? 0
            diff.shadowMilestones = try Int.fetchOne(db, sql: "SELECT count(*) FROM shadow_milestones") ?? 0
            diff.onlyShadowMilestones = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM shadow_milestones s WHERE NOT EXISTS
                (SELECT 1 FROM milestones m WHERE m.account_id = s.account_id AND m.level = s.level)
                """) ?? 0
            diff.onlyLiveMilestones = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM milestones m WHERE NOT EXISTS
                (SELECT 1 FROM shadow_milestones s WHERE s.account_id = m.account_id AND s.level = m.level)
                """) ?? 0
            diff.extraAnnouncements = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM shadow_milestones s JOIN accounts a ON a.id = s.account_id
                WHERE a.consent IN ('opted_in', 'no_ping') AND NOT EXISTS
                (SELECT 1 FROM milestones m WHERE m.account_id = s.account_id AND m.level = s.level)
                """) ?? 0
            diff.missingAnnouncements = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM milestones m JOIN accounts a ON a.id = m.account_id
                WHERE a.consent IN ('opted_in', 'no_ping') AND NOT EXISTS
                (SELECT 1 FROM shadow_milestones s WHERE s.account_id = m.account_id AND s.level = m.level)
                """) ?? 0
            return diff
        }
    }
}
