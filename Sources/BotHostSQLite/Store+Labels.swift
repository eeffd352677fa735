import BotHost
import Foundation
import GRDB

/// The labeler's tables on SQLite (migration v13): `labels` in sequence, `label_current`.
extension Store: LabelStore {
    private static let columns = "seq, src, uri, val, neg, cts, exp, sig"

    private static func label(_ row: Row) -> StoredLabel {
        StoredLabel(seq: row[0], src: row[1], uri: row[2], val: row[3], neg: (row[4] as Int64) != 0, cts: row[5], exp: row[6],
                    sig: Array((row[7] as Data?) ?? Data()))
    }

    public func issueLabels(minimumLevel: Int, _ decide: ([LabelSubject]) throws -> [StoredLabel]) throws -> [StoredLabel] {
        var issued: [StoredLabel] = []
        // IMMEDIATE: the write lock is taken before the subjects are read, so what is
        // decided is what is current when it commits (a second labeler waits).
        try queue.inTransaction(.immediate) { db in
            var subjects: [String: LabelSubject] = [:]
            let eligible = try Row.fetchCursor(db, sql: """
                SELECT a.did, t.level FROM accounts a JOIN totals t ON t.account_id = a.id
                WHERE a.consent IN ('opted_in', 'no_ping') AND a.status = 'active' AND a.excluded = 0 AND a.purged_us = 0
                  AND t.level >= ?
                """, arguments: [minimumLevel])
            while let row = try eligible.next() {
                let did: String = row[0]
                subjects[did] = LabelSubject(did: did, level: row[1], eligible: true)
            }
            let current = try Row.fetchCursor(db, sql: "SELECT l.did, l.val, l.exp, t.level FROM label_current l LEFT JOIN accounts a ON a.did = l.did LEFT JOIN totals t ON t.account_id = a.id")
            while let row = try current.next() {
                let did: String = row[0]
                var subject = subjects[did] ?? LabelSubject(did: did, level: (row[3] as Int?) ?? 0, eligible: false)
                subject.current = row[1]
                subject.currentExp = row[2]
                subjects[did] = subject
            }
            let drafts = try decide(subjects.values.sorted { $0.did < $1.did })
            // Prepared once per pass, not per label.
            let insert = try db.makeStatement(sql: "INSERT INTO labels(src, uri, val, neg, cts, exp, sig) VALUES (?, ?, ?, ?, ?, ?, ?)")
            let clear = try db.makeStatement(sql: "DELETE FROM label_current WHERE did = ? AND val = ?")
            let carry = try db.makeStatement(sql: """
                INSERT INTO label_current(did, val, exp, seq) VALUES (?, ?, ?, ?)
                ON CONFLICT(did) DO UPDATE SET val = excluded.val, exp = excluded.exp, seq = excluded.seq
                """)
            issued.reserveCapacity(drafts.count)
            for var label in drafts {
                try insert.execute(arguments: [label.src, label.uri, label.val, label.neg ? 1 : 0, label.cts, label.exp, Data(label.sig)])
                label.seq = db.lastInsertedRowID
                if label.neg {
                    try clear.execute(arguments: [label.uri, label.val])
                } else {
                    try carry.execute(arguments: [label.uri, label.val, label.exp, label.seq])
                }
                issued.append(label)
            }
            return .commit
        }
        return issued
    }

    public func labels(after: Int64, limit: Int) throws -> [StoredLabel] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM labels WHERE seq > ? ORDER BY seq LIMIT ?",
                             arguments: [after, limit]).map(Self.label)
        }
    }

    public func queryLabels(_ query: LabelQuery) throws -> [StoredLabel] {
        var conditions = ["seq > ?"]
        var arguments: [any DatabaseValueConvertible] = [query.after]
        if !query.uriPatterns.contains("*") {
            var any: [String] = []
            for pattern in query.uriPatterns {
                if pattern.hasSuffix("*") {
                    let prefix = String(pattern.dropLast())
                    any.append("substr(uri, 1, ?) = ?")
                    arguments += [prefix.unicodeScalars.count, prefix]
                } else {
                    any.append("uri = ?")
                    arguments.append(pattern)
                }
            }
            conditions.append("(" + (any.isEmpty ? "0" : any.joined(separator: " OR ")) + ")")
        }
        if !query.sources.isEmpty {
            conditions.append("src IN (" + query.sources.map { _ in "?" }.joined(separator: ", ") + ")")
            arguments += query.sources.map { $0 as any DatabaseValueConvertible }
        }
        arguments.append(query.limit)
        let sql = "SELECT \(Self.columns) FROM labels WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT ?"
        return try queue.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.label)
        }
    }

    public func labelSequence() throws -> LabelSequence {
        try queue.read { db in
            // The highest number AUTOINCREMENT ever gave (pruned ones included); the table
            // sqlite_sequence exists once any AUTOINCREMENT table has had a row.
            let used = try db.tableExists("sqlite_sequence")
                ? try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'labels'") ?? 0 : 0
            let pruned = try String.fetchOne(db, sql: "SELECT value FROM bot_state WHERE key = 'labels_pruned_through'").flatMap { Int64($0) } ?? 0
            return LabelSequence(last: max(used, pruned), prunedThrough: pruned)
        }
    }

    public func pruneLabels(before cts: String) throws -> Int {
        try queue.write { db in
            let condition = "cts < ? AND seq NOT IN (SELECT seq FROM label_current)"
            guard let highest = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM labels WHERE \(condition)", arguments: [cts]) else { return 0 }
            try db.execute(sql: "DELETE FROM labels WHERE \(condition)", arguments: [cts])
            let count = db.changesCount
            try db.execute(sql: """
                INSERT INTO bot_state(key, value) VALUES ('labels_pruned_through', ?)
                ON CONFLICT(key) DO UPDATE SET value = CAST(max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)
                """, arguments: [String(highest)])
            return count
        }
    }
}
