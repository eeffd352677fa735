import BotHost
import NIOCore
import PostgresNIO
import Synchronization

extension PostgresStore {
    /// Commits one batch in one transaction: dictionaries, accounts, totals, grants,
    /// ledger, buckets, milestones, outbox, rankings, limits, shadow rows, purges and
    /// the partition's cursor. Rows of other partitions' accounts are left to their owner.
    public func commit(_ batch: WriteBatch) throws {
        var attempt = 0
        while true {
            do {
                try lock.withLock { _ in
                    try session.transaction { try apply(batch) }
                }
                return
            } catch {
                // Hosts of other partitions insert the same new collections and rules:
                // a deadlock between two such transactions rolls one back whole, and the
                // batch (still in memory) is simply applied again.
                attempt += 1
                if attempt < 4, let error = error as? PSQLError, let state = error.serverInfo?[.sqlState], state == "40P01" || state == "40001" {
                    continue
                }
                throw describe(error)
            }
        }
    }

    /// The batch's statements, in the order ``WriteBatch`` defines (the SQLite writer's).
    private func apply(_ batch: WriteBatch) throws {
        // Statements whose results the batch needs come first (ids, the roll-up mark);
        // the rest are sent without waiting for each (pipelined on the connection, in
        // order), so the server runs one while this thread encodes the next; a segment's
        // ledger goes by COPY, in its place in that order. Then every reply is checked.
        try mapDictionaries(batch)
        let map = try accountIDs(batch)
        accountMap = map
        let throughKey = "xp_daily_through" + (partition.isPartial ? "/\(partition.index)-of-\(partition.count)" : "")
        let through = try session.query("SELECT value FROM bot_state WHERE key = \(throughKey)").first
            .flatMap { Int64(try $0.decode(String.self)) } ?? 0
        pending.removeAll(keepingCapacity: true)
        defer { pending.removeAll(keepingCapacity: true) }
        for segment in batch.segments {
            for barrier in segment.barriers { applyBarrier(barrier) }
            try writeSegment(segment, batch, through: through)
        }
        try writeAccounts(batch)
        try writeGrants(batch)
        try writeLimitsAndShadow(batch)
        if partition.isPartial { writeRanks(batch, map) }
        rollUpDays(batch, throughKey: throughKey, through: through)
        for (id, result) in batch.commandsApplied {
            send("UPDATE commands SET state = 'applied', applied_us = \(Clock.nowMicroseconds()), result = \(result) WHERE id = \(id)")
        }
        for audit in batch.audits {
            send("""
                INSERT INTO audit(time_us, actor, action, did, detail)
                VALUES (\(Clock.nowMicroseconds()), \(audit.actor), \(audit.action), \(audit.did), \(audit.detail))
                """)
        }
        send("""
            INSERT INTO cursor(source, time_us, updated_us) VALUES (\(partition.cursorSource), \(batch.cursorUS), \(Clock.nowMicroseconds()))
            ON CONFLICT (source) DO UPDATE SET time_us = GREATEST(cursor.time_us, EXCLUDED.time_us), updated_us = EXCLUDED.updated_us
            """)
        try archiveSeasons(batch)
        var firstError: (any Error)?
        for reply in pending {
            do { _ = try reply.wait() } catch { if firstError == nil { firstError = error } }
        }
        if let firstError { throw firstError }
    }

    /// The top N of each season that ended in this batch, written once, and only when every
    /// partition's cursor has passed the season's end and grace (the last partition to
    /// get there writes it; a second writer writes nothing).
    private func archiveSeasons(_ batch: WriteBatch) throws {
        if let through = batch.seasonsThroughUS {
            send("""
                INSERT INTO bot_state(key, value) VALUES (\(Self.seasonsKey(partition)), \(String(through)))
                ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                """)
        }
        for season in batch.seasonArchives {
            let due = season.endUS + batch.seasonGraceUS
            let name = String(season.name.flatMap { $0 == "'" ? ["'", "'"] : [$0] })
            let parts = partition.count
            send(try rankedQuery(
                from: season.startUS - 1, to: season.endUS - 1, limit: batch.seasonArchiveTop,
                prefix: """
                    INSERT INTO season_archive(season, rank, did, handle, score, xp, level, start_us, end_us, archived_us)
                    SELECT '\(name)', row_number() OVER (ORDER BY r.score DESC, r.did), r.did, r.handle, r.score, r.xp, r.level,
                           \(season.startUS), \(season.endUS), \(Clock.nowMicroseconds()) FROM (
                    """,
                suffix: """
                    ) r(did, handle, score, xp, level, display_name)
                    WHERE (SELECT count(*) FROM cursor WHERE (source = 'jetstream' OR source LIKE 'jetstream/%') AND time_us >= \(due)) >= \(parts)
                    ON CONFLICT DO NOTHING
                    """))
            if let template = batch.seasonAnnouncement {
                send("""
                    INSERT INTO outbox(key, account_id, kind, payload, created_us)
                    SELECT 'season:' || s.season || ':' || a.did, a.id, 'season',
                           json_build_object('type', 'season', 'did', a.did, 'handle', coalesce(a.handle, ''), 'season', s.season,
                                             'rank', s.rank, 'xp', s.score, 'template', \(template))::text, \(season.endUS)
                    FROM season_archive s JOIN accounts a ON a.did = s.did
                    WHERE s.season = \(season.name) AND a.consent IN ('opted_in', 'no_ping') AND a.status = 'active'
                    ORDER BY s.rank
                    ON CONFLICT DO NOTHING
                    """)
            }
        }
    }

    /// Where a host records how far it has archived seasons (one key per partition).
    static func seasonsKey(_ partition: Partition) -> String {
        "seasons_through" + (partition.isPartial ? "/\(partition.index)-of-\(partition.count)" : "")
    }

    /// Sends a statement without waiting for its reply (checked at the end of the batch).
    func send(_ query: PostgresQuery) {
        pending.append(session.connection.query(query, logger: session.logger))
    }

    // MARK: Ids

    /// Collections, rules and counter names new in this host get their database ids
    /// (inserted once by whichever host meets them first).
    private func mapDictionaries(_ batch: WriteBatch) throws {
        for (local, nsid) in batch.collections {
            let id = try session.query("""
                INSERT INTO collections(nsid) VALUES (\(nsid)) ON CONFLICT (nsid) DO UPDATE SET nsid = EXCLUDED.nsid RETURNING id
                """).first!.decode(Int64.self)
            ids.state.withLock { IDMap.set(&$0.collections, local, id) }
        }
        for (local, rule) in batch.rules {
            let id = try session.query("""
                INSERT INTO rules(plugin, rule, version) VALUES (\(rule.plugin), \(rule.rule), \(rule.version))
                ON CONFLICT (plugin, rule, version) DO UPDATE SET version = EXCLUDED.version RETURNING id
                """).first!.decode(Int64.self)
            ids.state.withLock { IDMap.set(&$0.rules, local, id); $0.rulesBack[id] = UInt16(local) }
        }
        for (local, name) in batch.counterNames {
            let id = try session.query("""
                INSERT INTO counter_names(name) VALUES (\(name)) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
                """).first!.decode(Int64.self)
            ids.state.withLock { IDMap.set(&$0.counters, local, id) }
        }
    }

    /// The database ids of this batch's accounts (0 for another partition's).
    private func accountIDs(_ batch: WriteBatch) throws -> [UInt32: Int64] {
        var newDIDs: [String] = []
        var newKeys: [Int64] = []
        var newLocals: [UInt32] = []
        for row in batch.accounts {
            guard let did = row.did else { continue }
            let key = Partition.shardKey(did.utf8)
            if partition.isPartial && Int(UInt64(key) % UInt64(partition.count)) != partition.index {
                ids.state.withLock { IDMap.set(&$0.accounts, Int(row.id), -1) }
                continue
            }
            newDIDs.append(did)
            newKeys.append(key)
            newLocals.append(row.id)
        }
        if !newDIDs.isEmpty {
            var byDID: [String: Int64] = [:]
            byDID.reserveCapacity(newDIDs.count)
            for row in try session.query("""
                INSERT INTO accounts(did, shard_key) SELECT * FROM UNNEST(\(newDIDs)::text[], \(newKeys)::bigint[])
                ON CONFLICT (did) DO UPDATE SET shard_key = EXCLUDED.shard_key RETURNING id, did
                """) {
                let (id, did) = try row.decode((Int64, String).self)
                byDID[did] = id
            }
            ids.state.withLock { state in
                for (index, local) in newLocals.enumerated() { IDMap.set(&state.accounts, Int(local), byDID[newDIDs[index]] ?? 0) }
            }
        }
        return try ids.state.withLock { state in
            var map: [UInt32: Int64] = [:]
            map.reserveCapacity(batch.accounts.count)
            for row in batch.accounts {
                let id = IDMap.get(state.accounts, Int(row.id))
                if id == 0 { throw StoreError("internal: account \(row.id) has no database id") }
                map[row.id] = max(0, id)
            }
            return map
        }
    }

    /// The database id of an account this host owns (nil: another partition's).
    func owned(_ account: UInt32, _ map: [UInt32: Int64]) -> Int64? {
        if let id = map[account] { return id > 0 ? id : nil }
        let id = ids.state.withLock { IDMap.get($0.accounts, Int(account)) }
        return id > 0 ? id : nil
    }

    func collectionID(_ local: UInt16) -> Int64 {
        let base = ids.state.withLock { IDMap.get($0.collections, Int(local & 0x7FFF)) }
        return local & 0x8000 != 0 ? base + 32_768 : base
    }

    func ruleID(_ local: UInt16) -> Int64 { ids.state.withLock { IDMap.get($0.rules, Int(local)) } }
    func counterID(_ local: UInt16) -> Int64 { ids.state.withLock { IDMap.get($0.counters, Int(local)) } }

    /// A record key as two columns: the TID value, or -1 and the key's text.
    static func rkeyColumns(_ rkey: UInt64, _ batch: WriteBatch) -> (Int64, String) {
        rkey & RecordKey.nonTIDFlag != 0 ? (-1, batch.rkeyTexts[rkey] ?? "") : (Int64(rkey), "")
    }

    // MARK: Accounts

    private func writeAccounts(_ batch: WriteBatch) throws {
        let map = accountMap
        var profile = ProfileColumns()
        var totals = TotalsColumns()
        for row in batch.accounts {
            guard let id = owned(row.id, map) else { continue }
            if row.did != nil || row.profileChanged {
                profile.ids.append(id)
                profile.handles.append(row.handle ?? "")
                profile.hasHandle.append(row.handle != nil)
                profile.handleTimes.append(row.handleTimeUS)
                profile.statuses.append(row.status)
                profile.statusTimes.append(row.statusTimeUS)
                profile.consents.append(row.consent.name)
                profile.seqs.append(row.lastSeq)
            }
            totals.ids.append(id)
            totals.xp.append(row.xp)
            totals.levels.append(Int64(row.level))
            totals.maxLevels.append(Int64(row.maxLevel))
            switch row.lastRev {
            case nil: totals.revs.append(0); totals.revTexts.append("")
            case let .tid(value)?: totals.revs.append(value); totals.revTexts.append("")
            case let .text(text)?: totals.revs.append(-1); totals.revTexts.append(text)
            }
            totals.ops.append(row.lastOp)
            totals.moreOps.append(row.moreOps.isEmpty ? "" : row.moreOps.map(String.init).joined(separator: ","))
        }
        if !profile.ids.isEmpty {
            send("""
                UPDATE accounts a SET handle = CASE WHEN u.has THEN u.handle END, handle_time_us = u.ht, status = u.st,
                    status_time_us = u.stt, consent = u.c, last_seq = u.seq
                FROM UNNEST(\(profile.ids)::bigint[], \(profile.handles)::text[], \(profile.hasHandle)::bool[],
                            \(profile.handleTimes)::bigint[], \(profile.statuses)::text[], \(profile.statusTimes)::bigint[],
                            \(profile.consents)::text[], \(profile.seqs)::bigint[]) AS u(id, handle, has, ht, st, stt, c, seq)
                WHERE a.id = u.id
                """)
        }
        if !totals.ids.isEmpty {
            send("""
                INSERT INTO totals(account_id, xp, level, max_level, last_rev, last_rev_text, last_op, more_ops)
                SELECT * FROM UNNEST(\(totals.ids)::bigint[], \(totals.xp)::bigint[], \(totals.levels)::integer[],
                                     \(totals.maxLevels)::integer[], \(totals.revs)::bigint[], \(totals.revTexts)::text[],
                                     \(totals.ops)::bigint[], \(totals.moreOps)::text[])
                ON CONFLICT (account_id) DO UPDATE SET xp = EXCLUDED.xp, level = EXCLUDED.level, max_level = EXCLUDED.max_level,
                    last_rev = EXCLUDED.last_rev, last_rev_text = EXCLUDED.last_rev_text, last_op = EXCLUDED.last_op,
                    more_ops = EXCLUDED.more_ops
                """)
        }
    }

    private struct ProfileColumns {
        var ids: [Int64] = [], handles: [String] = [], hasHandle: [Bool] = [], handleTimes: [Int64] = []
        var statuses: [String] = [], statusTimes: [Int64] = [], consents: [String] = [], seqs: [Int64] = []
    }

    private struct TotalsColumns {
        var ids: [Int64] = [], xp: [Int64] = [], levels: [Int64] = [], maxLevels: [Int64] = []
        var revs: [Int64] = [], revTexts: [String] = [], ops: [Int64] = [], moreOps: [String] = []
    }

    // MARK: Grants and ledger

    private func writeGrants(_ batch: WriteBatch) throws {
        let map = accountMap
        var live = GrantColumns()
        var dead = GrantColumns()
        for row in batch.grants {
            guard let account = owned(row.key.account, map) else { continue }
            let (rkey, text) = Self.rkeyColumns(row.key.rkey, batch)
            let target = row.grant == nil
            if target {
                dead.append(rkey, text, account, collectionID(row.key.collection))
            } else {
                live.append(rkey, text, account, collectionID(row.key.collection))
                live.amounts.append(Int64(row.grant!.amount))
                live.tags.append(Int64(row.grant!.tag))
                live.rules.append(ruleID(row.grant!.rule))
            }
        }
        if !live.rkeys.isEmpty {
            send("""
                INSERT INTO grants(rkey, rkey_text, account_id, collection_id, amount, tag, rule_id)
                SELECT * FROM UNNEST(\(live.rkeys)::bigint[], \(live.texts)::text[], \(live.accounts)::bigint[], \(live.collections)::integer[],
                                     \(live.amounts)::integer[], \(live.tags)::smallint[], \(live.rules)::integer[])
                ON CONFLICT (rkey, account_id, collection_id, rkey_text) DO UPDATE
                    SET amount = EXCLUDED.amount, tag = EXCLUDED.tag, rule_id = EXCLUDED.rule_id
                """)
        }
        if !dead.rkeys.isEmpty {
            send("""
                DELETE FROM grants g USING UNNEST(\(dead.rkeys)::bigint[], \(dead.texts)::text[], \(dead.accounts)::bigint[],
                                                  \(dead.collections)::integer[]) AS d(rkey, rkey_text, account_id, collection_id)
                WHERE g.rkey = d.rkey AND g.account_id = d.account_id AND g.collection_id = d.collection_id AND g.rkey_text = d.rkey_text
                """)
        }
    }

    private struct GrantColumns {
        var rkeys: [Int64] = [], texts: [String] = [], accounts: [Int64] = [], collections: [Int64] = []
        var amounts: [Int64] = [], tags: [Int64] = [], rules: [Int64] = []
        mutating func append(_ rkey: Int64, _ text: String, _ account: Int64, _ collection: Int64) {
            rkeys.append(rkey); texts.append(text); accounts.append(account); collections.append(collection)
        }
    }

    /// Appends ledger rows with `COPY … FROM STDIN` (text format): one round trip and the
    /// server's cheapest insert path. Record-key texts are NSID-safe (no tab, newline or
    /// backslash can occur in a valid key; anything else is escaped anyway).
    private func copyLedger(_ entries: [LedgerEntry], table: String, _ batch: WriteBatch, _ map: [UInt32: Int64]) throws {
        guard !entries.isEmpty else { return }
        var buffer = ByteBufferAllocator().buffer(capacity: entries.count * 64)
        var rows = 0
        for entry in entries {
            guard let account = owned(entry.account, map) else { continue }
            let (rkey, text) = Self.rkeyColumns(entry.rkey, batch)
            buffer.writeString(String(account)); buffer.writeInteger(UInt8(ascii: "\t"))
            buffer.writeString(String(collectionID(entry.collection))); buffer.writeInteger(UInt8(ascii: "\t"))
            buffer.writeString(String(rkey)); buffer.writeInteger(UInt8(ascii: "\t"))
            Self.writeCopyText(text, &buffer); buffer.writeInteger(UInt8(ascii: "\t"))
            buffer.writeString(String(entry.kind.rawValue)); buffer.writeInteger(UInt8(ascii: "\t"))
            buffer.writeString(String(entry.amount)); buffer.writeInteger(UInt8(ascii: "\t"))
            buffer.writeString(String(ruleID(entry.rule))); buffer.writeInteger(UInt8(ascii: "\t"))
            buffer.writeString(String(entry.timeUS)); buffer.writeInteger(UInt8(ascii: "\n"))
            rows += 1
        }
        guard rows > 0 else { return }
        try session.copy(table: table, columns: ["account_id", "collection_id", "rkey", "rkey_text", "kind", "amount", "rule_id", "time_us"],
                         text: buffer)
    }

    private static func writeCopyText(_ text: String, _ buffer: inout ByteBuffer) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }

    // MARK: Segments

    /// The partition's condition on `accounts a` (empty for a single host).
    var ownedAccountsSQL: String {
        partition.isPartial ? "a.shard_key % \(partition.count) = \(partition.index)" : "TRUE"
    }

    /// One segment's rows: appends and additive upserts, each kind in one statement, and
    /// the ledger by COPY.
    private func writeSegment(_ segment: WriteBatch.Segment, _ batch: WriteBatch, through: Int64) throws {
        let map = accountMap
        var counters = (buckets: [Int64](), accounts: [Int64](), ids: [Int64](), values: [Int64]())
        for row in segment.counters {
            guard let id = owned(row.account, map) else { continue }
            counters.buckets.append(row.bucket); counters.accounts.append(id)
            counters.ids.append(counterID(row.counter)); counters.values.append(row.amount)
        }
        if !counters.buckets.isEmpty {
            send("""
                INSERT INTO counters(bucket, account_id, counter_id, value)
                SELECT * FROM UNNEST(\(counters.buckets)::bigint[], \(counters.accounts)::bigint[], \(counters.ids)::integer[], \(counters.values)::bigint[])
                ON CONFLICT (bucket, account_id, counter_id) DO UPDATE SET value = counters.value + EXCLUDED.value
                """)
        }
        writeXPBuckets(segment.xpBuckets, through: through, map)
        insertMilestones(segment.milestones, table: "milestones", map)
        var outbox = (keys: [String](), ids: [Int64](), kinds: [String](), payloads: [String](), created: [Int64]())
        for row in segment.outbox {
            guard let id = owned(row.account, map) else { continue }
            outbox.keys.append(row.key); outbox.ids.append(id); outbox.kinds.append(row.kind)
            outbox.payloads.append(row.payload); outbox.created.append(row.createdUS)
        }
        if !outbox.keys.isEmpty {
            send("""
                INSERT INTO outbox(key, account_id, kind, payload, created_us)
                SELECT * FROM UNNEST(\(outbox.keys)::text[], \(outbox.ids)::bigint[], \(outbox.kinds)::text[], \(outbox.payloads)::text[],
                                     \(outbox.created)::bigint[])
                ON CONFLICT (key) DO NOTHING
                """)
        }
        if let members = segment.rankMembers {
            send("DELETE FROM rank_members WHERE window_name = \(batch.rankWindow) AND part = \(partition.index)")
            var rows = (thresholds: [Int64](), ids: [Int64](), entered: [Int64](), out: [Int64](), hasOut: [Bool]())
            for member in members {
                guard let id = owned(member.account, map) else { continue }
                rows.thresholds.append(Int64(member.threshold)); rows.ids.append(id); rows.entered.append(member.enteredUS)
                rows.out.append(member.outSinceUS ?? 0); rows.hasOut.append(member.outSinceUS != nil)
            }
            if !rows.ids.isEmpty {
                send("""
                    INSERT INTO rank_members(window_name, threshold, account_id, entered_us, out_since_us, part)
                    SELECT \(batch.rankWindow), t, id, e, CASE WHEN h THEN o END, \(partition.index)
                    FROM UNNEST(\(rows.thresholds)::integer[], \(rows.ids)::bigint[], \(rows.entered)::bigint[], \(rows.out)::bigint[],
                                \(rows.hasOut)::bool[]) AS u(t, id, e, o, h)
                    """)
            }
        }
        for event in segment.rankEvents {
            guard let id = owned(event.account, map) else { continue }
            send("""
                INSERT INTO rank_events(time_us, window_name, threshold, account_id, kind, rank)
                VALUES (\(event.timeUS), \(batch.rankWindow), \(event.threshold), \(id), \(event.kind.rawValue), \(event.rank))
                """)
        }
        for change in segment.rankingChanges {
            guard let id = owned(change.account, map) else { continue }
            send("UPDATE accounts SET unranked = \(change.ranked ? 0 : 1) WHERE id = \(id)")
        }
        var consent = (ids: [Int64](), values: [String](), sources: [String](), times: [Int64]())
        for change in segment.consentChanges {
            guard let id = owned(change.account, map) else { continue }
            consent.ids.append(id); consent.values.append(change.consent.name)
            consent.sources.append(change.source); consent.times.append(change.timeUS)
        }
        if !consent.ids.isEmpty {
            send("""
                INSERT INTO consent_log(account_id, consent, source, time_us)
                SELECT * FROM UNNEST(\(consent.ids)::bigint[], \(consent.values)::text[], \(consent.sources)::text[], \(consent.times)::bigint[])
                """)
        }
        insertMilestones(segment.shadowMilestones, table: "shadow_milestones", map)
        try copyLedger(segment.ledger, table: "ledger", batch, map)
        try copyLedger(segment.shadowLedger, table: "shadow_ledger", batch, map)
    }

    /// A segment's net XP per hour; an hour of a day already rolled up (a late or replayed
    /// event) updates its day too.
    private func writeXPBuckets(_ rows: [(bucket: Int64, account: UInt32, daily: Bool, amount: Int64)], through: Int64,
                                _ map: [UInt32: Int64]) {
        var hourly = (buckets: [Int64](), accounts: [Int64](), xp: [Int64]())
        for row in rows {
            guard let id = owned(row.account, map) else { continue }
            hourly.buckets.append(row.bucket); hourly.accounts.append(id); hourly.xp.append(row.amount)
        }
        guard !hourly.buckets.isEmpty else { return }
        send("""
            INSERT INTO xp_hourly(bucket, account_id, xp)
            SELECT * FROM UNNEST(\(hourly.buckets)::bigint[], \(hourly.accounts)::bigint[], \(hourly.xp)::bigint[])
            ON CONFLICT (bucket, account_id) DO UPDATE SET xp = xp_hourly.xp + EXCLUDED.xp
            """)
        guard let oldest = hourly.buckets.min(), oldest < through else { return }
        var late = (buckets: [Int64](), accounts: [Int64](), xp: [Int64]())
        for index in hourly.buckets.indices where hourly.buckets[index] < through {
            let bucket = hourly.buckets[index]
            late.buckets.append(bucket - ((bucket % 86_400) + 86_400) % 86_400)
            late.accounts.append(hourly.accounts[index]); late.xp.append(hourly.xp[index])
        }
        send("""
            INSERT INTO xp_daily(bucket, account_id, xp)
            SELECT bucket, account_id, SUM(xp) FROM UNNEST(\(late.buckets)::bigint[], \(late.accounts)::bigint[], \(late.xp)::bigint[])
                AS u(bucket, account_id, xp) GROUP BY 1, 2
            ON CONFLICT (bucket, account_id) DO UPDATE SET xp = xp_daily.xp + EXCLUDED.xp
            """)
    }

    /// Whole days roll up into xp_daily once, per partition (each rolls up its own accounts).
    private func rollUpDays(_ batch: WriteBatch, throughKey: String, through: Int64) {
        let seconds = batch.cursorUS / 1_000_000
        let today = seconds - ((seconds % 86_400) + 86_400) % 86_400
        guard batch.cursorUS > 0, today > through else { return }
        send(PostgresQuery(unsafeSQL: """
            INSERT INTO xp_daily(bucket, account_id, xp)
            SELECT h.bucket - h.bucket % 86400, h.account_id, SUM(h.xp) FROM xp_hourly h JOIN accounts a ON a.id = h.account_id
            WHERE h.bucket >= $1 AND h.bucket < $2 AND \(ownedAccountsSQL) GROUP BY 1, 2 HAVING SUM(h.xp) != 0
            ON CONFLICT (bucket, account_id) DO UPDATE SET xp = xp_daily.xp + EXCLUDED.xp
            """, binds: Self.binds(through, today)))
        send("""
            INSERT INTO bot_state(key, value) VALUES (\(throughKey), \(String(today))) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
            """)
    }

    static func binds(_ values: Int64...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }

    // MARK: Final state

    /// Rule limits and shadow totals as the batch left them.
    private func writeLimitsAndShadow(_ batch: WriteBatch) throws {
        let map = accountMap
        var upsert = (ids: [Int64](), slots: [Int64](), kinds: [Int64](), keys: [Int64](), values: [Int64]())
        var delete = (ids: [Int64](), slots: [Int64](), kinds: [Int64](), keys: [Int64]())
        for (key, value) in batch.limits {
            guard let id = owned(key.account, map) else { continue }
            let slot = counterID(key.slot)
            if let value {
                upsert.ids.append(id); upsert.slots.append(slot); upsert.kinds.append(Int64(key.kind.rawValue))
                upsert.keys.append(key.key); upsert.values.append(value)
            } else {
                delete.ids.append(id); delete.slots.append(slot); delete.kinds.append(Int64(key.kind.rawValue)); delete.keys.append(key.key)
            }
        }
        if !delete.ids.isEmpty {
            send("""
                DELETE FROM rule_limits r USING UNNEST(\(delete.ids)::bigint[], \(delete.slots)::integer[], \(delete.kinds)::smallint[],
                                                       \(delete.keys)::bigint[]) AS d(account_id, slot, kind, key)
                WHERE r.account_id = d.account_id AND r.slot = d.slot AND r.kind = d.kind AND r.key = d.key
                """)
        }
        if !upsert.ids.isEmpty {
            send("""
                INSERT INTO rule_limits(account_id, slot, kind, key, value)
                SELECT * FROM UNNEST(\(upsert.ids)::bigint[], \(upsert.slots)::integer[], \(upsert.kinds)::smallint[], \(upsert.keys)::bigint[],
                                     \(upsert.values)::bigint[])
                ON CONFLICT (account_id, slot, kind, key) DO UPDATE SET value = EXCLUDED.value
                """)
        }
        var shadow = (ids: [Int64](), xp: [Int64](), levels: [Int64](), maxLevels: [Int64]())
        var gone: [Int64] = []
        for (account, totals) in batch.shadowTotals {
            guard let id = owned(account, map) else { continue }
            guard let totals else {
                gone.append(id)
                continue
            }
            shadow.ids.append(id); shadow.xp.append(totals.xp)
            shadow.levels.append(Int64(totals.level)); shadow.maxLevels.append(Int64(totals.maxLevel))
        }
        if !gone.isEmpty { send("DELETE FROM shadow_totals WHERE account_id = ANY(\(gone)::bigint[])") }
        if !shadow.ids.isEmpty {
            send("""
                INSERT INTO shadow_totals(account_id, xp, level, max_level)
                SELECT * FROM UNNEST(\(shadow.ids)::bigint[], \(shadow.xp)::bigint[], \(shadow.levels)::integer[], \(shadow.maxLevels)::integer[])
                ON CONFLICT (account_id) DO UPDATE SET xp = EXCLUDED.xp, level = EXCLUDED.level, max_level = EXCLUDED.max_level
                """)
        }
    }

    /// Milestones (live or a shadow pack's) of this host's accounts; a level already
    /// recorded stays as it was.
    private func insertMilestones(_ rows: [MilestoneRow], table: String, _ map: [UInt32: Int64]) {
        var ids: [Int64] = [], levels: [Int64] = [], times: [Int64] = []
        for row in rows {
            guard let id = owned(row.account, map) else { continue }
            ids.append(id); levels.append(Int64(row.level)); times.append(row.timeUS)
        }
        guard !ids.isEmpty else { return }
        var binds = PostgresBindings()
        binds.append(ids); binds.append(levels); binds.append(times)
        send(PostgresQuery(unsafeSQL: """
            INSERT INTO \(table)(account_id, level, time_us)
            SELECT * FROM UNNEST($1::bigint[], $2::integer[], $3::bigint[]) ON CONFLICT DO NOTHING
            """, binds: binds))
    }

    // MARK: Barriers

    /// An effect applied to what the earlier segments and batches left.
    private func applyBarrier(_ barrier: WriteBatch.Barrier) {
        switch barrier {
        case let .cancelAnnouncements(account):
            guard let id = owned(account, accountMap) else { return }
            // Announcements only: a confirmation of the opt-out itself still goes out. A
            // message with an attempt begun may have landed: the dispatcher resolves it
            // (looks it up under its record key; cancels it unless it is found).
            send("""
                UPDATE outbox SET state = 'cancelled', last_error = 'account opted out or inactive'
                WHERE account_id = \(id) AND state = 'pending' AND attempts = 0 AND kind IN ('milestone', 'rank')
                """)
        case let .purge(purge):
            // Removes a deleted account's rows; the account row stays as a tombstone.
            guard let id = owned(purge.account, accountMap) else { return }
            for table in ["ledger", "grants", "milestones", "outbox", "consent_log", "xp_hourly", "xp_daily", "rank_members",
                          "rank_events", "counters", "rule_limits", "shadow_ledger", "shadow_totals", "shadow_milestones", "profiles"] {
                send(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE account_id = $1", binds: Self.binds(id)))
            }
            send("UPDATE accounts SET handle = NULL, purged_us = \(Clock.nowMicroseconds()) WHERE id = \(id)")
        case let .retention(daily, hourly, limitsBefore):
            send(PostgresQuery(unsafeSQL: """
                DELETE FROM counters c USING accounts a WHERE a.id = c.account_id AND \(ownedAccountsSQL) AND c.bucket < $1
                    AND c.counter_id IN (SELECT id FROM counter_names WHERE name LIKE 'hour:%')
                """, binds: Self.binds(hourly)))
            send(PostgresQuery(unsafeSQL: """
                DELETE FROM counters c USING accounts a WHERE a.id = c.account_id AND \(ownedAccountsSQL) AND c.bucket < $1
                """, binds: Self.binds(daily)))
            // The windowed limits (LimitKind.isWindowed): caps and daily counts.
            send(PostgresQuery(unsafeSQL: """
                DELETE FROM rule_limits r USING accounts a WHERE a.id = r.account_id AND \(ownedAccountsSQL) AND r.kind IN (0, 1, 5) AND r.key < $1
                """, binds: Self.binds(limitsBefore)))
        }
    }
}
