import XRPCClient

/// Everything one batch changed, snapshotted for the writer: applied by
/// ``Store/write(_:)`` in one transaction together with the cursor.
public struct WriteBatch: Sendable {
    /// A new or changed account row.
    public struct AccountRow: Sendable {
        public var id: UInt32
        /// Set only for accounts created in this batch.
        public var did: String?
        /// Whether handle, status or consent changed (otherwise only the totals are written).
        public var profileChanged: Bool
        public var lastLedgerID: Int64
        public var handle: String?
        public var handleTimeUS: Int64
        public var status: String
        public var statusTimeUS: Int64
        public var consent: Consent
        /// TID integer, or the text of a non-TID rev; nil when no commit was applied yet.
        public var lastRev: RevValue?
        public var xp: Int64
        public var level: Int32
        public var maxLevel: Int32
    }

    /// A rev or record key as stored: an integer for TIDs, text otherwise.
    public enum RevValue: Sendable, Equatable {
        case tid(Int64)
        case text(String)
    }

    /// A live grant to upsert, or a revoked one to delete (`grant == nil`).
    public struct GrantRow: Sendable {
        public var key: GrantKey
        public var grant: Grant?
    }

    public var accounts: [AccountRow] = []
    public var collections: [(Int, String)] = []
    public var rules: [(Int, PluginContext.RuleInfo)] = []
    public var ledger: [LedgerEntry] = []
    /// Sorted by (rkey, account, collection): the grants table's key order.
    public var grants: [GrantRow] = []
    /// Counter increments (bucket, account, counter, amount), in key order.
    public var counters: [(bucket: Int64, account: UInt32, counter: UInt16, amount: Int64)] = []
    public var counterNames: [(Int, String)] = []
    /// Texts of the non-TID record keys the ledger and grants rows refer to.
    public var rkeyTexts: [UInt64: String] = [:]
    public var milestones: [MilestoneRow] = []
    public var outbox: [OutboxRow] = []
    public var outboxCancels: [UInt32] = []
    /// Net XP of the batch's ledger entries per (hour, account), for the ranking windows
    /// (`daily` is always false: the writer rolls finished days up). Sorted by key.
    public var xpBuckets: [(bucket: Int64, account: UInt32, daily: Bool, amount: Int64)] = []
    /// Ranking changes decided in this batch.
    public var rankEvents: [RankEvent] = []
    /// The window's full membership after an evaluation (nil: no evaluation this batch):
    /// (threshold, account, entered, out of range since).
    public var rankMembers: [(threshold: Int, account: UInt32, enteredUS: Int64, outSinceUS: Int64?)]?
    public var rankWindow = "day"
    /// Accounts that asked to leave (false) or rejoin (true) the leaderboards, in order.
    public var rankingChanges: [(account: UInt32, ranked: Bool)] = []
    /// Consent changes with where they came from, appended to `consent_log`.
    public var consentChanges: [ConsentChange] = []
    /// Deleted accounts whose rows are purged in this batch: the account, the head of its
    /// ledger chain, and the keys of the grants it held.
    public var purges: [Purge] = []
    /// When set, counters older than these bucket starts (unix seconds) are deleted: daily
    /// ones before `daily`, hourly ones (names starting `hour:`) before `hourly`.
    public var retention: (daily: Int64, hourly: Int64)?
    /// Moderator commands applied in this batch, with what they did.
    public var commandsApplied: [(id: Int64, result: String)] = []
    /// Audit lines written with the batch.
    public var audits: [(actor: String, action: String, did: String?, detail: String)] = []
    /// Rule limits changed in this batch with their final value (nil: forget it).
    public var limits: [(key: LimitKey, value: Int64?)] = []
    /// When set, windowed rule limits of windows that started before this (unix seconds) are deleted.
    public var limitsExpireBefore: Int64?
    /// A shadow pack's ledger entries, changed totals and would-be milestones.
    public var shadowLedger: [LedgerEntry] = []
    public var shadowTotals: [(account: UInt32, totals: ShadowTotals)] = []
    public var shadowMilestones: [MilestoneRow] = []
    /// The cursor stored with the batch.
    public var cursorUS: Int64 = 0
    /// Events applied in the batch (for metrics).
    public var events = 0
    /// Monotonic receive time of the batch's oldest live frame (infinity for replays),
    /// for event→commit latency.
    public var oldestReceivedAt = Double.infinity

    /// Whether the batch changes nothing at all.
    public var isEmpty: Bool {
        accounts.isEmpty && ledger.isEmpty && outboxCancels.isEmpty && outbox.isEmpty && xpBuckets.isEmpty && rankEvents.isEmpty && rankMembers == nil && collections.isEmpty && rules.isEmpty && purges.isEmpty
            && counters.isEmpty && counterNames.isEmpty && commandsApplied.isEmpty && limits.isEmpty && shadowLedger.isEmpty
    }

    /// A deleted account's rows to remove.
    public struct Purge: Sendable {
        public var account: UInt32
        public var ledgerHead: Int64
        public var grants: [GrantKey]
    }
}

extension PluginContext {
    /// Closes the open batch: snapshots every change since the previous one and
    /// starts a new batch.
    public func closeBatch() -> WriteBatch {
        var batch = WriteBatch()
        batch.cursorUS = cursorUS
        // Ledger ids in event order, each row linked to its account's previous one.
        for index in ledger.indices {
            let account = Int(ledger[index].account)
            ledger[index].id = nextLedgerID
            ledger[index].previousID = accounts[account].lastLedgerID
            accounts[account].lastLedgerID = nextLedgerID
            nextLedgerID += 1
        }
        batch.xpBuckets = xpBuckets()
        batch.purges = purgeDueAccounts()
        // Retention once per stream day.
        let day = cursorUS / 86_400_000_000
        if cursorUS > 0 && day != retentionDay {
            retentionDay = day
            let now = cursorUS / 1_000_000
            batch.retention = (now - Int64(analyticsRetentionDays) * 86_400, now - Int64(hourlyRetentionDays) * 86_400)
            // Caps count per hour, day or week: a window that started 8 days ago is over.
            batch.limitsExpireBefore = now - 8 * 86_400
            expireLimits(before: now - 8 * 86_400)
        }
        batch.commandsApplied = commandsApplied
        batch.audits = audits
        commandsApplied.removeAll()
        audits.removeAll()
        for purge in batch.purges {
            for key in purge.grants where key.rkey & RecordKey.nonTIDFlag != 0 { batch.rkeyTexts[key.rkey] = rkeyString(key.rkey) }
        }
        batch.accounts.reserveCapacity(dirtyAccounts.count)
        // In id order, so the writer walks the accounts B-tree once, front to back.
        dirtyAccounts.sort()
        for id in dirtyAccounts {
            let state = accounts[Int(id)]
            let rev: WriteBatch.RevValue?
            if state.lastRev == 0 {
                rev = nil
            } else if state.lastRev & RecordKey.nonTIDFlag != 0 {
                rev = .text(String(decoding: nonTIDRevs[id] ?? [], as: UTF8.self))
            } else {
                rev = .tid(Int64(state.lastRev))
            }
            batch.accounts.append(WriteBatch.AccountRow(
                id: id, did: Int(id) >= firstNewAccount ? dids.string(Int(id)) : nil,
                profileChanged: state.profileEpoch == epoch, lastLedgerID: state.lastLedgerID,
                handle: handles[Int(id)], handleTimeUS: state.handleTimeUS,
                status: statusNames[Int(state.status)], statusTimeUS: state.statusTimeUS,
                consent: state.consent, lastRev: rev, xp: state.xp, level: state.level, maxLevel: state.maxLevel))
        }
        // Grants: the keys this batch touched, in the table's key order, each with its
        // final state (a key created and deleted in one batch is just deleted).
        var keys = ledger.map { GrantKey(account: $0.account, collection: $0.collection, rkey: $0.rkey) }
        keys += shadowLedger.map { GrantKey(account: $0.account, collection: $0.collection, rkey: $0.rkey) }
        keys.sort { ($0.rkey, $0.account, $0.collection) < ($1.rkey, $1.account, $1.collection) }
        batch.grants.reserveCapacity(keys.count)
        var previous: GrantKey?
        for key in keys where key != previous {
            previous = key
            batch.grants.append(WriteBatch.GrantRow(key: key, grant: grants.get(key)))
            if key.rkey & RecordKey.nonTIDFlag != 0 { batch.rkeyTexts[key.rkey] = rkeyString(key.rkey) }
        }
        batch.ledger = ledger
        batch.limits = drainLimits()
        batch.shadowLedger = shadowLedger
        batch.shadowTotals = drainShadowTotals()
        batch.shadowMilestones = shadowMilestones
        shadowLedger.removeAll(keepingCapacity: true)
        shadowMilestones.removeAll(keepingCapacity: true)
        batch.collections = newCollections
        batch.rules = newRules
        if let tracker = rankTracker { closeRanks(tracker, &batch) }
        batch.milestones = milestones
        batch.outbox = outbox
        batch.outboxCancels = outboxCancels
        batch.consentChanges = consentChanges
        batch.rankingChanges = rankingChanges
        rankingChanges.removeAll()
        batch.events = batchEvents
        batch.counterNames = newCounterNames
        newCounterNames.removeAll()
        var entries = counterIncrements.drain()
        if !rollups.isEmpty {
            for entry in entries {
                guard Int(entry.key.counter) < rollups.count, let (target, seconds) = rollups[Int(entry.key.counter)] else { continue }
                let bucket = entry.key.bucket - ((entry.key.bucket % seconds) + seconds) % seconds
                counterIncrements.add(CounterTable.Key(bucket: bucket, account: entry.key.account, counter: target), entry.value)
            }
            entries += counterIncrements.drain()
            entries.sort { $0.key < $1.key }
        }
        batch.counters = entries.map { ($0.key.bucket, $0.key.account, $0.key.counter, $0.value) }

        ledger.removeAll(keepingCapacity: true)
        milestones.removeAll(keepingCapacity: true)
        outbox.removeAll(keepingCapacity: true)
        outboxCancels.removeAll(keepingCapacity: true)
        consentChanges.removeAll(keepingCapacity: true)
        newCollections.removeAll()
        newRules.removeAll()
        dirtyAccounts.removeAll(keepingCapacity: true)
        firstNewAccount = accounts.count
        batchEvents = 0
        evictColdGrants()
        if !foreignAccounts.isEmpty { epochTimes[Int(epoch16)] = cursorUS }
        epoch &+= 1
        return batch
    }
}

extension PluginContext {
    /// Purges the deleted accounts whose retention period has passed on the stream's
    /// clock: XP, grants, handle and (in the store) ledger, milestones and outbox rows.
    ///
    /// The account row stays as a tombstone with its last rev, so replaying the events
    /// from before the deletion is still recognised as duplicates and restores nothing.
    func purgeDueAccounts() -> [WriteBatch.Purge] {
        guard !pendingPurges.isEmpty || !requestedPurges.isEmpty else { return [] }
        var due: [UInt32] = []
        var waiting: [UInt32] = []
        for id in Set(pendingPurges) {
            let state = accounts[Int(id)]
            guard !state.purged, statusNames[Int(state.status)] == "deleted" else { continue }
            if state.statusTimeUS + retentionUS <= cursorUS { due.append(id) } else { waiting.append(id) }
        }
        pendingPurges = waiting
        due.append(contentsOf: requestedPurges)
        requestedPurges.removeAll()
        guard !due.isEmpty else { return [] }
        due = Array(Set(due))
        let keys = grants.removeAll(accounts: Set(due))
        let purged = Set(due)
        limits = limits.filter { !purged.contains($0.key.account) }
        var purges: [WriteBatch.Purge] = []
        for id in due.sorted() {
            recentPurges[id] = epoch
            purges.append(WriteBatch.Purge(account: id, ledgerHead: accounts[Int(id)].lastLedgerID,
                                           grants: keys[id] ?? []))
            accounts[Int(id)].purged = true
            shadow[id] = nil
            accounts[Int(id)].xp = 0
            accounts[Int(id)].level = 1
            accounts[Int(id)].lastLedgerID = 0
            handles[Int(id)] = nil
            markDirty(id)
            markProfileDirty(id)
        }
        return purges
    }
}

extension PluginContext {
    /// The batch's ledger summed per hour and per day of event time and account: the
    /// rankings read whole hours and days from these instead of the ledger (counter 0
    /// is the hour bucket, 1 the day bucket of the same table).
    func xpBuckets() -> [(bucket: Int64, account: UInt32, daily: Bool, amount: Int64)] {
        guard !ledger.isEmpty else { return [] }
        var table = CounterTable(capacity: 1 << 12)
        // One hash update per ledger entry; the writer rolls whole days up from the hours.
        for entry in ledger where entry.amount != 0 {
            let seconds = entry.timeUS >= 0 ? entry.timeUS / 1_000_000 : (entry.timeUS - 999_999) / 1_000_000
            let hour = seconds - ((seconds % 3_600) + 3_600) % 3_600
            table.add(CounterTable.Key(bucket: hour, account: entry.account, counter: 0), Int64(entry.amount))
        }
        var entries = table.drain()
        entries.sort { $0.key < $1.key }
        return entries.compactMap { entry in
            entry.value == 0 ? nil : (entry.key.bucket, entry.key.account, entry.key.counter == 1, entry.value)
        }
    }
}

extension PluginContext {
    /// Called before each event is applied: when its time passes a `checkEvery` boundary
    /// of stream time, the XP applied so far is fed to the rank tracker and the ranking
    /// changes are decided as of that boundary. Deciding at stream boundaries, never at
    /// batch ends, makes the changes depend only on the events, not on how they were cut
    /// into batches (a restart after a crash, the number of decode workers).
    @inline(__always)
    func advanceRanks(to timeUS: Int64) {
        guard let tracker = rankTracker else { return }
        guard tracker.lastCheckUS != .min else {
            tracker.lastCheckUS = timeUS
            return
        }
        let every = max(1, tracker.options.checkEveryUS)
        guard timeUS >= 0, timeUS / every > max(0, tracker.lastCheckUS) / every else { return }
        evaluateRanks(tracker, at: timeUS / every * every)
    }

    /// Feeds the ledger entries not fed yet (net XP per hour and account).
    func feedRanks(_ tracker: RankTracker, nowUS: Int64) {
        guard rankFed < ledger.count else { return }
        var table = CounterTable(capacity: 1 << 10)
        for entry in ledger[rankFed...] where entry.amount != 0 {
            let seconds = entry.timeUS >= 0 ? entry.timeUS / 1_000_000 : (entry.timeUS - 999_999) / 1_000_000
            table.add(CounterTable.Key(bucket: seconds - ((seconds % 3_600) + 3_600) % 3_600, account: entry.account, counter: 0),
                      Int64(entry.amount))
        }
        rankFed = ledger.count
        var entries = table.drain()
        entries.sort { $0.key < $1.key }
        for entry in entries where entry.value != 0 && tracker.inWindow(hour: entry.key.bucket, nowUS: nowUS) {
            tracker.add(hour: entry.key.bucket, account: entry.key.account, amount: entry.value)
        }
    }

    /// Decides the ranking changes as of `nowUS` and queues announcements of entries for
    /// opted-in, active accounts (the best threshold reached, once per entry).
    func evaluateRanks(_ tracker: RankTracker, at nowUS: Int64) {
        feedRanks(tracker, nowUS: nowUS)
        let events = tracker.evaluate(
            nowUS: nowUS,
            eligible: { self.accounts[Int($0)].status == 0 && !tracker.unranked.contains($0) && $0 != self.botAccount },
            did: { self.dids.string(Int($0)) })
        rankEvaluated = true
        rankEvents += events
        guard tracker.options.announce else { return }
        var best: [UInt32: RankEvent] = [:]
        for event in events where event.kind == .entered {
            if let known = best[event.account], known.threshold <= event.threshold { continue }
            best[event.account] = event
        }
        for (account, event) in best.sorted(by: { $0.key < $1.key }) {
            let state = accounts[Int(account)]
            guard state.consent.allowsAnnouncements, state.status == 0 else { continue }
            let did = dids.string(Int(account))
            let window = tracker.options.window
            let json = JSONWriter()
            json.object {
                json.field("type", "rank")
                json.field("did", did)
                json.field("handle", handles[Int(account)] ?? "")
                json.field("n", event.threshold)
                json.field("rank", event.rank ?? 0)
                json.field("window", window)
                json.field("template", event.threshold == 1 ? rankFirstAnnouncement : rankAnnouncement)
                json.field("mention", state.consent == .optedIn)
            }
            outbox.append(OutboxRow(key: "rank:\(window):\(event.threshold):\(did):\(event.timeUS)", account: account,
                                    kind: "rank", payload: json.output, createdUS: event.timeUS))
            totals.announcements += 1
        }
    }

    /// At batch close: the rest of the batch's XP goes to the tracker, and the batch
    /// carries the changes decided in it and, after an evaluation, the membership.
    func closeRanks(_ tracker: RankTracker, _ batch: inout WriteBatch) {
        feedRanks(tracker, nowUS: max(cursorUS, tracker.lastCheckUS))
        rankFed = 0
        batch.rankEvents = rankEvents
        rankEvents.removeAll()
        batch.rankWindow = tracker.options.window
        if rankEvaluated {
            rankEvaluated = false
            batch.rankMembers = tracker.members.flatMap { threshold, group in
                group.map { (threshold, $0.key, $0.value.enteredUS, $0.value.outSinceUS) }
            }
        }
    }
}
