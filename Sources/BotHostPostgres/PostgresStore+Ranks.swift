import BotHost
import PostgresNIO

extension PostgresStore {
    /// A partitioned host's ranking rows: its part of the feed with how far it is
    /// published, and the changes decided from every part, written keyed so that two
    /// hosts deciding the same boundary store them once (docs/scaling.md).
    func writeRanks(_ batch: WriteBatch, _ map: [UInt32: Int64]) {
        let window = batch.rankWindow
        if !batch.rankFeed.isEmpty {
            var rows = (boundaries: [Int64](), kinds: [Int16](), ids: [Int64](), hours: [Int64](), values: [Int64]())
            for row in batch.rankFeed {
                let id: Int64
                if row.kind == .marker {
                    id = 0
                } else {
                    guard let owned = owned(row.account, map) else { continue }
                    id = owned
                }
                rows.boundaries.append(row.boundaryUS); rows.kinds.append(row.kind.rawValue); rows.ids.append(id)
                rows.hours.append(row.hour); rows.values.append(row.value)
            }
            send("""
                INSERT INTO rank_feed(window_name, boundary_us, part, kind, account_id, hour, value)
                SELECT \(window), b, \(partition.index), k, a, h, v
                FROM UNNEST(\(rows.boundaries)::bigint[], \(rows.kinds)::smallint[], \(rows.ids)::bigint[], \(rows.hours)::bigint[],
                            \(rows.values)::bigint[]) AS u(b, k, a, h, v)
                """)
        }
        if let published = batch.rankPublishedUS {
            send("""
                INSERT INTO rank_progress(window_name, part, parts, published_us) VALUES (\(window), \(partition.index), \(partition.count), \(published))
                ON CONFLICT (window_name, part, parts) DO UPDATE SET published_us = GREATEST(rank_progress.published_us, EXCLUDED.published_us)
                """)
        }
        guard let decision = batch.rankDecision else { return }
        if !decision.changes.isEmpty {
            var rows = (times: [Int64](), thresholds: [Int64](), dids: [String](), kinds: [String](), ranks: [Int64](), ranked: [Bool]())
            for change in decision.changes {
                rows.times.append(change.event.timeUS); rows.thresholds.append(Int64(change.event.threshold))
                rows.dids.append(change.did); rows.kinds.append(change.event.kind.rawValue)
                rows.ranks.append(Int64(change.event.rank ?? 0)); rows.ranked.append(change.event.rank != nil)
            }
            send("""
                INSERT INTO rank_events(time_us, window_name, threshold, account_id, kind, rank)
                SELECT u.t, \(window), u.n, a.id, u.k, CASE WHEN u.r THEN u.rank END
                FROM UNNEST(\(rows.times)::bigint[], \(rows.thresholds)::integer[], \(rows.dids)::text[], \(rows.kinds)::text[],
                            \(rows.ranks)::integer[], \(rows.ranked)::bool[]) AS u(t, n, did, k, rank, r)
                JOIN accounts a ON a.did = u.did
                ON CONFLICT (window_name, time_us, threshold, account_id, kind) DO NOTHING
                """)
        }
        if !decision.announcements.isEmpty {
            let keys = decision.announcements.map(\.key), dids = decision.announcements.map(\.did)
            let payloads = decision.announcements.map(\.payload), created = decision.announcements.map(\.createdUS)
            send("""
                INSERT INTO outbox(key, account_id, kind, payload, created_us)
                SELECT u.key, a.id, 'rank', u.payload, u.created
                FROM UNNEST(\(keys)::text[], \(dids)::text[], \(payloads)::text[], \(created)::bigint[]) AS u(key, did, payload, created)
                JOIN accounts a ON a.did = u.did
                ON CONFLICT (key) DO NOTHING
                """)
        }
        send("""
            INSERT INTO rank_decider(window_name, decided_us, members) VALUES (\(window), \(decision.state.decidedUS), \(decision.state.encodedMembers))
            ON CONFLICT (window_name) DO UPDATE SET decided_us = EXCLUDED.decided_us, members = EXCLUDED.members
            WHERE rank_decider.decided_us < EXCLUDED.decided_us
            """)
        if let hour = decision.pruneBeforeHour {
            // XP of hours no window that is still to be decided reads.
            send("""
                DELETE FROM rank_feed WHERE window_name = \(window) AND kind = 1
                AND boundary_us <= \(decision.state.decidedUS) AND hour < \(hour)
                """)
        }
    }
}

/// Reads the ranking feed on a connection of its own (the applying thread's).
final class PostgresRankFeed: RankFeedSource {
    private let session: PGSession

    init(url: PostgresURL) throws {
        session = try PGSession(url)
    }

    func progress(window: String, partitions: Int) throws -> (publishedUS: Int64?, decidedUS: Int64) {
        let row = try session.query("""
            SELECT (SELECT count(*) FROM rank_progress WHERE window_name = \(window) AND parts = \(partitions)),
                   (SELECT min(published_us) FROM rank_progress WHERE window_name = \(window) AND parts = \(partitions)),
                   (SELECT decided_us FROM rank_decider WHERE window_name = \(window))
            """).first!
        let (count, published, decided) = try row.decode((Int64, Int64?, Int64?).self)
        return (count == Int64(partitions) ? published : nil, decided ?? 0)
    }

    func decisionState(window: String, windowSeconds: Int64) throws -> (RankDecisionState, [RankFeedEntry]) {
        guard let row = try session.query("SELECT decided_us, members FROM rank_decider WHERE window_name = \(window)").first else {
            return (RankDecisionState(decidedUS: 0, members: []), [])
        }
        let (decided, members) = try row.decode((Int64, String).self)
        var entries: [RankFeedEntry] = []
        let first = StoredState.firstRankHour(cursorUS: decided, windowSeconds: windowSeconds)
        for row in try session.query("""
            SELECT account_id, hour, sum(value)::bigint FROM rank_feed
            WHERE window_name = \(window) AND kind = 1 AND boundary_us <= \(decided) AND hour >= \(first)
            GROUP BY account_id, hour ORDER BY hour, account_id
            """) {
            let (account, hour, xp) = try row.decode((Int64, Int64, Int64).self)
            entries.append(RankFeedEntry(boundaryUS: decided, kind: .xp, account: account, hour: hour, value: xp))
        }
        for row in try session.query("""
            SELECT DISTINCT ON (account_id) account_id, value FROM rank_feed
            WHERE window_name = \(window) AND kind = 2 AND boundary_us <= \(decided)
            ORDER BY account_id, boundary_us DESC
            """) {
            let (account, flags) = try row.decode((Int64, Int64).self)
            entries.append(RankFeedEntry(boundaryUS: decided, kind: .flags, account: account, hour: 0, value: flags))
        }
        return (RankDecisionState(decidedUS: decided, members: RankDecisionState.decodeMembers(members)), entries)
    }

    func feed(window: String, after: Int64, through: Int64) throws -> [RankFeedEntry] {
        var entries: [RankFeedEntry] = []
        for row in try session.query("""
            SELECT boundary_us, kind, account_id, hour, value FROM rank_feed
            WHERE window_name = \(window) AND boundary_us > \(after) AND boundary_us <= \(through)
            ORDER BY boundary_us, kind DESC, account_id, hour
            """) {
            let (boundary, kind, account, hour, value) = try row.decode((Int64, Int16, Int64, Int64, Int64).self)
            entries.append(RankFeedEntry(boundaryUS: boundary, kind: RankFeedRow.Kind(rawValue: kind) ?? .marker, account: account,
                                         hour: hour, value: value))
        }
        return entries
    }

    func accounts(ids: [Int64]) throws -> [(id: Int64, did: String)] {
        try session.query("SELECT id, did FROM accounts WHERE id = ANY(\(ids))").map { try $0.decode((Int64, String).self) }
            .sorted { $0.0 < $1.0 }
    }

    func handles(ids: [Int64]) throws -> [Int64: String] {
        var handles: [Int64: String] = [:]
        for row in try session.query("SELECT id, handle FROM accounts WHERE id = ANY(\(ids)) AND handle IS NOT NULL") {
            let (id, handle) = try row.decode((Int64, String).self)
            handles[id] = handle
        }
        return handles
    }

    /// What `partition` published last of each of its accounts' flags.
    func publishedFlags(window: String, partition: Int) throws -> [String: Int64] {
        var flags: [String: Int64] = [:]
        for row in try session.query("""
            SELECT DISTINCT ON (f.account_id) a.did, f.value FROM rank_feed f JOIN accounts a ON a.id = f.account_id
            WHERE f.window_name = \(window) AND f.kind = 2 AND f.part = \(partition)
            ORDER BY f.account_id, f.boundary_us DESC
            """) {
            let (did, value) = try row.decode((String, Int64).self)
            flags[did] = value
        }
        return flags
    }
}
