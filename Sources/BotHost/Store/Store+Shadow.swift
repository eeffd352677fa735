import GRDB

/// What a shadow pack would have done next to the live pack (`bothost rules diff`).
public struct ShadowDiff: Sendable {
    /// XP per rule name: granted by the live rules and by the shadow pack's.
    public struct RuleTotals: Sendable, Equatable {
        public var rule: String
        public var liveXP: Int64
        public var shadowXP: Int64

        public init(rule: String, liveXP: Int64, shadowXP: Int64) {
            self.rule = rule
            self.liveXP = liveXP
            self.shadowXP = shadowXP
        }
    }

    /// One account whose shadow XP differs from its live XP.
    public struct Account: Sendable, Equatable {
        public var did: String
        public var handle: String?
        public var liveXP: Int64
        public var liveLevel: Int
        public var shadowXP: Int64
        public var shadowLevel: Int

        public init(did: String, handle: String?, liveXP: Int64, liveLevel: Int, shadowXP: Int64, shadowLevel: Int) {
            self.did = did
            self.handle = handle
            self.liveXP = liveXP
            self.liveLevel = liveLevel
            self.shadowXP = shadowXP
            self.shadowLevel = shadowLevel
        }
    }

    /// The shadow pack's id and version (nil when no shadow pack ever ran).
    public var shadowPack: String?
    public var shadowVersion: String?
    public var rules: [RuleTotals] = []
    public var accountsCompared = 0
    public var accountsDiffering = 0
    /// The accounts that differ most, largest difference first.
    public var largestDifferences: [Account] = []
    public var liveMilestones = 0
    public var shadowMilestones = 0
    /// Milestones only the shadow pack reached, and those only the live rules reached.
    public var onlyShadowMilestones = 0
    public var onlyLiveMilestones = 0
    /// Announcements the shadow pack would have added (its extra milestones of accounts
    /// whose consent allows announcements), and the live ones it would not have made.
    public var extraAnnouncements = 0
    public var missingAnnouncements = 0

    public init() {}
}

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
