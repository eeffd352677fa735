import BotHost
import PostgresNIO
import Synchronization

extension PostgresStore {
    /// The state of the accounts this partition owns, at its cursor, in host ids (the
    /// order of the database's ids; ``IDMap`` links the two). Other partitions' accounts
    /// start empty in memory: a partitioned replay rebuilds them from the stream, and never
    /// writes them.
    public func storedState(for request: StoredState.Request) throws -> StoredState {
        do {
            return try lock.withLock { _ in try storedStateLocked(request) }
        } catch {
            throw describe(error)
        }
    }

    /// Evicted grants (this partition's, and other partitions' records from before the
    /// run) are read through a connection of their own.
    public func attachReaders(to context: PluginContext) throws {
        if partition.isPartial, let tracker = context.rankTracker {
            // Each partition applies only its accounts' events: the rankings are decided
            // from every partition's published part (docs/scaling.md).
            let feed = try PostgresRankFeed(url: url)
            let flags = try feed.publishedFlags(window: tracker.options.window, partition: partition.index)
            context.publishRanks(decider: RankDecider(source: feed, partitions: partition.count, options: tracker.options), flags: flags)
        }
        guard context.residency.hotGrantHorizonUS > 0 else { return }
        let cold = try PostgresColdGrants(url: url, ids: ids)
        // Another partition's account has no id here: its owner's rows are found by DID.
        cold.didOf = { [weak context] account in context.map { $0.state.dids.string(Int(account)) } }
        cold.eventTime = { [weak context] in context?.eventTimeUS ?? .max }
        cold.runStartUS = { [weak context] in context.map { $0.residency.historyStartUS } ?? 0 }
        context.residency.coldGrants = cold
    }

    /// Where a live partition resumes: the start of the hour a hot window before its cursor.
    public static func warmUpStartUS(cursorUS: Int64, horizonUS: Int64) -> Int64 {
        let start = max(0, cursorUS - horizonUS)
        return start - start % 3_600_000_000
    }

    private func storedStateLocked(_ request: StoredState.Request) throws -> StoredState {
        var stored = StoredState()
        stored.partition = partition
        // Dictionaries: host ids in database id order; the map links the two.
        var collectionsBack: [Int64: UInt16] = [:]
        for row in try session.query("SELECT id, nsid FROM collections ORDER BY id") {
            let (id, nsid) = try row.decode((Int64, String).self)
            let local = stored.collections.count
            guard local < 0x7FFF else { break }  // see PluginContext.restore
            stored.collections.append(nsid)
            collectionsBack[id] = UInt16(local)
            ids.state.withLock { IDMap.set(&$0.collections, local, id) }
        }
        var rulesBack: [Int64: UInt16] = [:]
        for row in try session.query("SELECT id, plugin, rule, version FROM rules ORDER BY id") {
            let (id, plugin, rule, version) = try row.decode((Int64, String, String, String).self)
            let local = stored.rules.count
            stored.rules.append(.init(plugin: plugin, rule: rule, version: version))
            rulesBack[id] = UInt16(truncatingIfNeeded: local)
            ids.state.withLock { IDMap.set(&$0.rules, local, id); $0.rulesBack[id] = UInt16(truncatingIfNeeded: local) }
        }
        var countersBack: [Int64: UInt16] = [:]
        for row in try session.query("SELECT id, name FROM counter_names ORDER BY id") {
            let (id, name) = try row.decode((Int64, String).self)
            let local = stored.counterNames.count
            stored.counterNames.append(name)
            countersBack[id] = UInt16(truncatingIfNeeded: local)
            ids.state.withLock { IDMap.set(&$0.counters, local, id) }
        }
        // Accounts this partition owns, with their totals.
        var accountsBack: [Int64: UInt32] = [:]
        let rows = try session.query(PostgresQuery(unsafeSQL: """
            SELECT a.id, a.did, a.handle, a.handle_time_us, a.status, a.status_time_us, a.consent,
                   t.last_rev, t.last_rev_text, t.xp, t.level, t.max_level, a.purged_us, t.last_op, t.more_ops, a.last_seq
            FROM accounts a JOIN totals t ON t.account_id = a.id WHERE \(ownedAccountsSQL) ORDER BY a.id
            """))
        var mapped: [(Int, Int64)] = []
        mapped.reserveCapacity(rows.count)
        for row in rows {
            let (id, did, handle, handleTime, status, statusTime, consent, rev, revText, xp, level, maxLevel, purged, lastOp, moreOps, lastSeq) =
                try row.decode((Int64, String, String?, Int64, String, Int64, String, Int64, String, Int64, Int32, Int32, Int64, Int64,
                                String, Int64).self)
            let local = stored.accounts.count
            var state = AccountState()
            state.handleTimeUS = handleTime
            state.statusTimeUS = statusTime
            state.consent = Consent(name: consent) ?? .none
            if revText.isEmpty { state.lastRev = UInt64(rev) }
            state.xp = xp
            state.level = level
            state.maxLevel = maxLevel
            state.purged = purged != 0
            state.lastOp = UInt64(bitPattern: lastOp)
            state.lastSeq = lastSeq
            stored.accounts.append(.init(did: did, handle: handle, status: status, state: state,
                                         nonTIDRev: revText.isEmpty ? nil : revText, moreOps: StoredState.parseOps(moreOps)))
            accountsBack[id] = UInt32(local)
            mapped.append((local, id))
        }
        ids.state.withLock { state in for (local, id) in mapped { IDMap.set(&state.accounts, local, id) } }

        let cursorUS = try session.query("SELECT time_us FROM cursor WHERE source = \(partition.cursorSource)").first?.decode(Int64.self) ?? 0
        stored.cursorUS = cursorUS
        stored.seasonsThroughUS = try session.query("SELECT value FROM bot_state WHERE key = \(Self.seasonsKey(partition))").first
            .flatMap { Int64(try $0.decode(String.self)) }
        stored.coldBelowTID = StoredState.coldFloor(cursorUS: cursorUS, horizonUS: request.hotGrantHorizonUS)
        for row in try session.query(PostgresQuery(unsafeSQL: """
            SELECT g.rkey, g.rkey_text, g.account_id, g.collection_id, g.amount, g.tag, g.rule_id
            FROM grants g JOIN accounts a ON a.id = g.account_id WHERE (g.rkey >= $1 OR g.rkey < 0) AND \(ownedAccountsSQL)
            """, binds: Self.binds(Int64(stored.coldBelowTID)))) {
            let (rkeyValue, rkeyText, accountID, collectionID, amount, tag, ruleID) =
                try row.decode((Int64, String, Int64, Int64, Int32, Int16, Int64).self)
            guard let account = accountsBack[accountID] else { continue }
            let shadowFlag: UInt16 = collectionID >= 32_768 ? 0x8000 : 0
            guard let collection = collectionsBack[collectionID >= 32_768 ? collectionID - 32_768 : collectionID] else { continue }
            stored.grants.append(.init(account: account, collection: collection | shadowFlag, rkey: rkeyValue < 0 ? 0 : UInt64(rkeyValue),
                                       rkeyText: rkeyValue < 0 ? rkeyText : nil,
                                       grant: Grant(amount: amount, tag: UInt8(truncatingIfNeeded: tag), rule: rulesBack[ruleID] ?? 0)))
        }
        for row in try session.query(PostgresQuery(unsafeSQL: """
            SELECT r.account_id, r.slot, r.kind, r.key, r.value FROM rule_limits r JOIN accounts a ON a.id = r.account_id WHERE \(ownedAccountsSQL)
            """)) {
            let (accountID, slot, kind, key, value) = try row.decode((Int64, Int64, Int16, Int64, Int64).self)
            guard let account = accountsBack[accountID], let slot = countersBack[slot],
                  let kind = LimitKind(rawValue: UInt8(truncatingIfNeeded: kind)) else { continue }
            stored.limits.append((LimitKey(account: account, slot: slot, kind: kind, key: key), value))
        }
        for row in try session.query(PostgresQuery(unsafeSQL: """
            SELECT s.account_id, s.xp, s.level, s.max_level FROM shadow_totals s JOIN accounts a ON a.id = s.account_id WHERE \(ownedAccountsSQL)
            """)) {
            let (accountID, xp, level, maxLevel) = try row.decode((Int64, Int64, Int32, Int32).self)
            guard let account = accountsBack[accountID] else { continue }
            stored.shadow.append((account, ShadowTotals(xp: xp, level: level, maxLevel: maxLevel)))
        }
        if partition.isPartial { stored.catchUpUntilUS = cursorUS }
        if let window = request.rankWindow, cursorUS > 0 {
            var ranks = StoredState.Ranks()
            let first = StoredState.firstRankHour(cursorUS: cursorUS, windowSeconds: window.seconds)
            // A partitioned host's rank window is the decider's, read from the feed.
            for row in try session.query(PostgresQuery(unsafeSQL: """
                SELECT h.bucket, h.account_id, h.xp FROM xp_hourly h JOIN accounts a ON a.id = h.account_id
                WHERE h.bucket >= $1 AND \(ownedAccountsSQL) AND NOT \(partition.isPartial) ORDER BY h.bucket
                """, binds: Self.binds(first))) {
                let (bucket, accountID, xp) = try row.decode((Int64, Int64, Int64).self)
                guard let account = accountsBack[accountID] else { continue }
                ranks.hourly.append((bucket, account, xp))
            }
            for row in try session.query("""
                SELECT threshold, account_id, entered_us, out_since_us FROM rank_members WHERE window_name = \(window.name) AND part = \(partition.index)
                AND NOT \(partition.isPartial)
                """) {
                let (threshold, accountID, entered, outSince) = try row.decode((Int, Int64, Int64, Int64?).self)
                guard let account = accountsBack[accountID] else { continue }
                ranks.members.append((threshold, account, entered, outSince))
            }
            for row in try session.query(PostgresQuery(unsafeSQL: """
                SELECT a.id, a.unranked, a.excluded FROM accounts a WHERE (a.unranked != 0 OR a.excluded != 0) AND \(ownedAccountsSQL)
                """)) {
                let (id, unranked, excluded) = try row.decode((Int64, Int, Int).self)
                guard let account = accountsBack[id] else { continue }
                if unranked != 0 { ranks.unranked.append(account) }
                if excluded != 0 { ranks.excluded.append(account) }
            }
            stored.ranks = ranks
        }
        return stored
    }
}

/// Reads evicted grants of this host's accounts from PostgreSQL, on a connection of its own.
final class PostgresColdGrants: ColdGrantSource {
    private let session: PGSession
    private let ids: IDMap
    private(set) var lookups = 0
    private(set) var failure: (any Error)?
    /// The DID of a host account id (on the applying thread, like every lookup).
    var didOf: ((UInt32) -> String?)?
    /// The time of the event being applied.
    var eventTime: (() -> Int64)?
    /// The time of the first event this host applied in this run.
    var runStartUS: (() -> Int64)?
    /// Whether the ledger holds anything from before this run (asked once): when it does
    /// not, no other partition's record can predate the run, and no lookup is needed.
    private var historyBeforeRun: Bool?

    init(url: PostgresURL, ids: IDMap) throws {
        session = try PGSession(url)
        self.ids = ids
    }

    func grant(_ key: GrantKey) -> Grant? {
        lookups += 1
        let (account, collection) = ids.state.withLock { state in
            (IDMap.get(state.accounts, Int(key.account)), IDMap.get(state.collections, Int(key.collection & 0x7FFF)))
        }
        guard collection > 0 else { return nil }
        let collectionID = key.collection & 0x8000 != 0 ? collection + 32_768 : collection
        do {
            let rows: [PostgresRow]
            if account > 0 {
                rows = try session.query("""
                    SELECT amount, tag, rule_id FROM grants
                    WHERE rkey = \(Int64(key.rkey)) AND account_id = \(account) AND collection_id = \(collectionID) AND rkey_text = ''
                    """)
            } else if let did = didOf?(key.account) {
                if historyBeforeRun == nil {
                    let start = runStartUS?() ?? 0
                    historyBeforeRun = try session.query("SELECT EXISTS(SELECT 1 FROM ledger WHERE time_us < \(start))").first!.decode(Bool.self)
                }
                guard historyBeforeRun == true || Int64(key.rkey >> 10) >= (runStartUS?() ?? 0) else { return nil }
                return try foreignGrant(did: did, collection: collectionID, rkey: Int64(key.rkey), asOf: eventTime?() ?? .max)
            } else {
                return nil
            }
            guard let row = rows.first else { return nil }
            let (amount, tag, rule) = try row.decode((Int32, Int16, Int64).self)
            let local = ids.state.withLock { $0.rulesBack[rule] } ?? 0
            return Grant(amount: amount, tag: UInt8(truncatingIfNeeded: tag), rule: local)
        } catch {
            if failure == nil { failure = error }
            return nil
        }
    }

    func grant(_ key: GrantKey, before timeUS: Int64) -> Grant?? {
        guard key.rkey & RecordKey.nonTIDFlag == 0, let did = didOf?(key.account) else { return nil }
        let collection = ids.state.withLock { IDMap.get($0.collections, Int(key.collection & 0x7FFF)) }
        guard collection > 0 else { return nil }
        lookups += 1
        do {
            return .some(try foreignGrant(did: did, collection: key.collection & 0x8000 != 0 ? collection + 32_768 : collection,
                                          rkey: Int64(key.rkey), asOf: timeUS))
        } catch {
            if failure == nil { failure = error }
            return nil
        }
    }

    /// Another partition's grant as it stood just before `asOf` (the event being applied),
    /// summed from its owner's ledger (append-only, stamped with event time): the owner
    /// may already be past `asOf` (even past this very event),
    /// with the record since re-graded or deleted, so its live row could be from the
    /// future. Exact while the owner has committed through `asOf` (partitions within a
    /// hot window of each other). The tag is the live row's while the amount agrees.
    private func foreignGrant(did: String, collection: Int64, rkey: Int64, asOf: Int64) throws -> Grant? {
        let rows = try session.query("""
            SELECT l.amount, l.kind, l.rule_id, coalesce(g.tag, 0)::smallint, coalesce(g.amount, 0)::integer
            FROM ledger l JOIN accounts a ON a.id = l.account_id
            LEFT JOIN grants g ON g.rkey = l.rkey AND g.account_id = l.account_id AND g.collection_id = l.collection_id AND g.rkey_text = ''
            WHERE a.did = \(did) AND l.collection_id = \(collection) AND l.rkey = \(rkey) AND l.rkey_text = '' AND l.time_us < \(asOf)
            ORDER BY l.id
            """)
        var amount: Int64 = 0
        var last: (kind: Int16, rule: Int64, tag: Int16, liveAmount: Int32)?
        for row in rows {
            let (delta, kind, rule, tag, liveAmount) = try row.decode((Int32, Int16, Int64, Int16, Int32).self)
            amount += Int64(delta)
            last = (kind, rule, tag, liveAmount)
        }
        guard let last, last.kind != Int16(LedgerEntry.Kind.revoke.rawValue) else { return nil }
        let local = ids.state.withLock { $0.rulesBack[last.rule] } ?? 0
        let tag = Int64(last.liveAmount) == amount ? last.tag : 0
        return Grant(amount: Int32(truncatingIfNeeded: amount), tag: UInt8(truncatingIfNeeded: tag), rule: local)
    }
}
