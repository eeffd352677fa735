import BotHost
import NIOCore
import PostgresNIO
import Synchronization

/// The labeler's tables on PostgreSQL (schema step 6). Hosts sharing the store may each
/// run a labeler: a pass holds a transaction-scoped advisory lock, so passes follow one
/// another and the sequence commits in order (a subscriber never sees a lower number
/// appear after a higher one).
extension PostgresStore: LabelStore {
    /// The advisory lock key of the labeler's pass.
    static let labelLockKey: Int64 = 4_242_424_243
    private static let columns = "seq, src, uri, val, neg, cts, exp, sig"

    private static func label(_ row: PostgresRow) throws -> StoredLabel {
        let (seq, src, uri, val, neg, cts, exp, sig) = try row.decode((Int64, String, String, String, Bool, String, String?, ByteBuffer).self)
        return StoredLabel(seq: seq, src: src, uri: uri, val: val, neg: neg, cts: cts, exp: exp, sig: Array(buffer: sig))
    }

    public func issueLabels(minimumLevel: Int, _ decide: ([LabelSubject]) throws -> [StoredLabel]) throws -> [StoredLabel] {
        try lock.withLock { _ in
            try session.transaction {
                try session.query("SELECT pg_advisory_xact_lock(\(Self.labelLockKey))")
                var subjects: [String: LabelSubject] = [:]
                for row in try session.query("""
                    SELECT a.did, t.level FROM accounts a JOIN totals t ON t.account_id = a.id
                    WHERE a.consent IN ('opted_in', 'no_ping') AND a.status = 'active' AND a.excluded = 0 AND a.purged_us = 0
                      AND t.level >= \(Int32(clamping: minimumLevel))
                    """) {
                    let (did, level) = try row.decode((String, Int32).self)
                    subjects[did] = LabelSubject(did: did, level: Int(level), eligible: true)
                }
                for row in try session.query("""
                    SELECT l.did, l.val, l.exp, t.level FROM label_current l
                    LEFT JOIN accounts a ON a.did = l.did LEFT JOIN totals t ON t.account_id = a.id
                    """) {
                    let (did, val, exp, level) = try row.decode((String, String, String?, Int32?).self)
                    var subject = subjects[did] ?? LabelSubject(did: did, level: Int(level ?? 0), eligible: false)
                    subject.current = val
                    subject.currentExp = exp
                    subjects[did] = subject
                }
                let drafts = try decide(subjects.values.sorted { $0.did < $1.did })
                guard !drafts.isEmpty else { return [] }
                // One statement per table for the whole pass (not per label); numbers are drawn
                // in the order given (ORDER BY the ordinality), as SQLite assigns them.
                let src = drafts.map(\.src), uri = drafts.map(\.uri), val = drafts.map(\.val), neg = drafts.map(\.neg)
                let cts = drafts.map(\.cts), exp = drafts.map { $0.exp ?? "" }, hasExp = drafts.map { $0.exp != nil }
                let sig = drafts.map { Self.hex($0.sig) }
                let seqs = try session.query("""
                    INSERT INTO labels(src, uri, val, neg, cts, exp, sig)
                    SELECT s, u, v, n, c, CASE WHEN h THEN e END, decode(g, 'hex')
                    FROM UNNEST(\(src)::text[], \(uri)::text[], \(val)::text[], \(neg)::bool[], \(cts)::text[], \(exp)::text[],
                                \(hasExp)::bool[], \(sig)::text[]) WITH ORDINALITY AS x(s, u, v, n, c, e, h, g, o)
                    ORDER BY o
                    RETURNING seq
                    """).map { try $0.decode(Int64.self) }.sorted()
                guard seqs.count == drafts.count else { throw StoreError("labels: \(seqs.count) rows inserted for \(drafts.count) labels") }
                let issued = zip(drafts, seqs).map { draft, seq in var label = draft; label.seq = seq; return label }
                // A subject's negation comes before its new label: clear, then carry.
                let negations = issued.filter(\.neg), carried = issued.filter { !$0.neg }
                if !negations.isEmpty {
                    try session.query("""
                        DELETE FROM label_current l USING UNNEST(\(negations.map(\.uri))::text[], \(negations.map(\.val))::text[]) AS x(d, v)
                        WHERE l.did = x.d AND l.val = x.v
                        """)
                }
                if !carried.isEmpty {
                    try session.query("""
                        INSERT INTO label_current(did, val, exp, seq)
                        SELECT d, v, CASE WHEN h THEN e END, q
                        FROM UNNEST(\(carried.map(\.uri))::text[], \(carried.map(\.val))::text[], \(carried.map { $0.exp ?? "" })::text[],
                                    \(carried.map { $0.exp != nil })::bool[], \(carried.map(\.seq))::bigint[]) AS x(d, v, e, h, q)
                        ON CONFLICT(did) DO UPDATE SET val = excluded.val, exp = excluded.exp, seq = excluded.seq
                        """)
                }
                return issued
            }
        }
    }

    /// Bytes as lowercase hex, for `decode(…, 'hex')` in an array bind.
    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
        return String(decoding: out, as: UTF8.self)
    }

    public func labels(after: Int64, limit: Int) throws -> [StoredLabel] {
        try lock.withLock { _ in
            try session.query("SELECT \(unescaped: Self.columns) FROM labels WHERE seq > \(after) ORDER BY seq LIMIT \(Int64(limit))")
        }.map(Self.label)
    }

    public func queryLabels(_ query: LabelQuery) throws -> [StoredLabel] {
        var binds = PostgresBindings()
        binds.append(query.after)
        var conditions = ["seq > $1"]
        func parameter(_ value: String) -> String { binds.append(value); return "$\(binds.count)" }
        if !query.uriPatterns.contains("*") {
            let any = query.uriPatterns.map { pattern in
                pattern.hasSuffix("*")
                    ? "left(uri, \(pattern.dropLast().unicodeScalars.count)) = \(parameter(String(pattern.dropLast())))"
                    : "uri = \(parameter(pattern))"
            }
            conditions.append("(" + (any.isEmpty ? "false" : any.joined(separator: " OR ")) + ")")
        }
        if !query.sources.isEmpty {
            conditions.append("src IN (" + query.sources.map(parameter).joined(separator: ", ") + ")")
        }
        binds.append(Int64(query.limit))
        let sql = "SELECT \(Self.columns) FROM labels WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT $\(binds.count)"
        return try lock.withLock { _ in try session.query(PostgresQuery(unsafeSQL: sql, binds: binds)) }.map(Self.label)
    }

    public func labelSequence() throws -> LabelSequence {
        try lock.withLock { _ in
            let row = try session.query("""
                SELECT COALESCE((SELECT max(seq) FROM labels), 0),
                       COALESCE((SELECT value::bigint FROM bot_state WHERE key = 'labels_pruned_through'), 0)
                """).first!
            let (last, pruned) = try row.decode((Int64, Int64).self)
            return LabelSequence(last: max(last, pruned), prunedThrough: pruned)
        }
    }

    public func pruneLabels(before cts: String) throws -> Int {
        try lock.withLock { _ in
            try session.transaction {
                try session.query("SELECT pg_advisory_xact_lock(\(Self.labelLockKey))")
                let rows = try session.query("""
                    DELETE FROM labels WHERE cts < \(cts) AND seq NOT IN (SELECT seq FROM label_current) RETURNING seq
                    """)
                let highest = try rows.map { try $0.decode(Int64.self) }.max()
                guard let highest else { return 0 }
                try session.query("""
                    INSERT INTO bot_state(key, value) VALUES ('labels_pruned_through', \(String(highest)))
                    ON CONFLICT(key) DO UPDATE SET value = GREATEST(bot_state.value::bigint, excluded.value::bigint)::text
                    """)
                return rows.count
            }
        }
    }
}
