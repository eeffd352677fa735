import BotHost
import PostgresNIO

extension PostgresStore {
    /// A partitioned host's ranking rows: its part of the feed with how far it is
    /// published, and the changes decided from every part, written keyed so that two
    /// hosts deciding the same boundary store them once (docs/scaling.md).
    func writeRanks(_ batch: WriteBatch, _ map: [UInt32: Int64]) {
        let window = batch.rankWindow
        if !batch.rankFeed.isEmpty {
            // One packed row per (stamp, kind): the decider reads a few rows, not one per
            // account and hour.
            struct Key: Hashable { var boundary: Int64; var kind: Int16 }
            var packed: [Key: ByteBuffer] = [:]
            for row in batch.rankFeed {
                let key = Key(boundary: row.boundaryUS, kind: row.kind.rawValue)
                if packed[key] == nil { packed[key] = ByteBufferAllocator().buffer(capacity: row.kind == .marker ? 0 : 4_096) }
                guard row.kind != .marker, let owned = owned(row.account, map) else { continue }
                packed[key]!.writeInteger(owned, endianness: .little)
                packed[key]!.writeInteger(row.hour, endianness: .little)
                packed[key]!.writeInteger(row.value, endianness: .little)
            }
            var rows = (boundaries: [Int64](), kinds: [Int16](), blobs: [ByteBuffer]())
            for (key, blob) in packed.sorted(by: { ($0.key.boundary, $0.key.kind) < ($1.key.boundary, $1.key.kind) }) {
                rows.boundaries.append(key.boundary); rows.kinds.append(key.kind); rows.blobs.append(blob)
            }
            send("""
                INSERT INTO rank_feed(window_name, boundary_us, part, kind, rows)
                SELECT \(window), b, \(partition.index), k, r
                FROM UNNEST(\(rows.boundaries)::bigint[], \(rows.kinds)::smallint[], \(rows.blobs)::bytea[]) AS u(b, k, r)
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
            // XP published before the first hour any boundary still to be decided reads
            // (a row stamped B holds hours up to B's).
            send("""
                DELETE FROM rank_feed WHERE window_name = \(window) AND kind = 1 AND boundary_us < \(hour * 1_000_000)
                AND boundary_us <= \(decision.state.decidedUS)
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
        let first = StoredState.firstRankHour(cursorUS: decided, windowSeconds: windowSeconds)
        var xp: [RankFeedEntry] = []
        var flags: [Int64: RankFeedEntry] = [:]
        for entry in try read("""
            SELECT boundary_us, kind, rows FROM rank_feed
            WHERE window_name = \(window) AND kind IN (1, 2) AND boundary_us <= \(decided) ORDER BY boundary_us
            """) {
            if entry.kind == .flags {
                flags[entry.account] = entry
            } else if entry.hour >= first {
                xp.append(entry)
            }
        }
        let entries = xp + flags.values.sorted { $0.account < $1.account }
        return (RankDecisionState(decidedUS: decided, members: RankDecisionState.decodeMembers(members)), entries)
    }

    func feed(window: String, after: Int64, through: Int64) throws -> [RankFeedEntry] {
        // By stamp, markers last; within a stamp, flags before XP (they commute).
        try read("""
            SELECT boundary_us, kind, rows FROM rank_feed
            WHERE window_name = \(window) AND boundary_us > \(after) AND boundary_us <= \(through)
            ORDER BY boundary_us, kind DESC, part
            """)
    }

    /// Unpacks feed rows: one entry per triple, a marker for a row of kind 0.
    private func read(_ query: PostgresQuery) throws -> [RankFeedEntry] {
        var entries: [RankFeedEntry] = []
        for row in try session.query(query) {
            let (boundary, rawKind, blob) = try row.decode((Int64, Int16, ByteBuffer).self)
            let kind = RankFeedRow.Kind(rawValue: rawKind) ?? .marker
            if kind == .marker {
                entries.append(RankFeedEntry(boundaryUS: boundary, kind: .marker, account: 0, hour: 0, value: 0))
                continue
            }
            var buffer = blob
            while let account = buffer.readInteger(endianness: .little, as: Int64.self),
                  let hour = buffer.readInteger(endianness: .little, as: Int64.self),
                  let value = buffer.readInteger(endianness: .little, as: Int64.self) {
                entries.append(RankFeedEntry(boundaryUS: boundary, kind: kind, account: account, hour: hour, value: value))
            }
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
        var latest: [Int64: Int64] = [:]
        for entry in try read("""
            SELECT boundary_us, kind, rows FROM rank_feed WHERE window_name = \(window) AND kind = 2 AND part = \(partition)
            ORDER BY boundary_us
            """) {
            latest[entry.account] = entry.value
        }
        guard !latest.isEmpty else { return [:] }
        var flags: [String: Int64] = [:]
        for (id, did) in try accounts(ids: Array(latest.keys)) { flags[did] = latest[id] }
        return flags
    }
}
