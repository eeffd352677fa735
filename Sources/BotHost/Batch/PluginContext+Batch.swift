import XRPCClient

extension PluginContext {
    /// Records an effect that may not commute with the rows recorded before it. When it
    /// does commute with every row of the open segment it joins the segment's barriers
    /// (applied before those rows, which is the same); otherwise the open segment is
    /// sealed first, so the store applies the barrier after its rows and before anything
    /// recorded after it.
    ///
    /// What commutes: a cancel touches only its account's pending announcements, so it
    /// commutes with every row but that account's outbox rows. Purges and the retention
    /// pass are rare (a deleted account's purge, once a stream day) and always seal.
    func addBarrier(_ barrier: WriteBatch.Barrier) {
        let commutes: Bool
        switch barrier {
        case let .cancelAnnouncements(account):
            commutes = !open.open.outbox.contains { $0.account == account }
        case .purge, .retention:
            commutes = !open.openHasRows
        }
        if !commutes { sealSegment() }
        open.open.barriers.append(barrier)
    }

    /// Closes the open segment: its counters and XP buckets are summed, the rank tracker
    /// is fed its ledger entries, and the membership after an evaluation is kept.
    func sealSegment() {
        if let tracker = rankTracker, let publisher = rankPublisher {
            publishDeltas(publisher, stamp: nextRankStamp(tracker))
        } else if let tracker = rankTracker {
            feedRanks(tracker, nowUS: max(cursorUS, tracker.lastCheckUS))
            if open.rankEvaluated {
                open.open.rankMembers = tracker.members.flatMap { threshold, group in
                    group.map { (threshold, $0.key, $0.value.enteredUS, $0.value.outSinceUS) }
                }
            }
        }
        open.rankFed = 0
        open.rankEvaluated = false
        open.open.xpBuckets = Self.xpBuckets(open.open.ledger)
        open.open.counters = drainCounters()
        if !open.open.isEmpty { open.sealed.append(open.open) }
        open.open = WriteBatch.Segment()
    }

    /// Called after each applied event: purges that fell due and the day's retention pass
    /// happen at the event that makes them due, never at a batch end, so where batches
    /// are cut changes nothing.
    @inline(__always)
    func afterEvent() {
        if cursorUS >= state.nextPurgeDueUS { purgeDueAccounts() }
        if cursorUS > 0 && cursorUS / 86_400_000_000 != retentionDay { startRetentionDay() }
    }

    /// Closes the open batch: snapshots every change since the previous one and
    /// starts a new batch.
    public func closeBatch() -> WriteBatch {
        sealSegment()
        var batch = WriteBatch()
        batch.cursorUS = cursorUS
        batch.segments = open.sealed
        open.sealed = []
        batch.commandsApplied = open.commandsApplied
        batch.audits = open.audits
        open.commandsApplied.removeAll()
        open.audits.removeAll()
        batch.events = open.events
        open.events = 0
        if let seasons, cursorUS > 0 { closeSeasons(seasons, &batch) }
        // An account interned in this batch is written in this batch (with its DID), even
        // when no event of its own touched it (another partition's author of a repost).
        for id in state.firstNewAccount..<state.accounts.count { state.markDirty(UInt32(id)) }
        batch.accounts.reserveCapacity(state.dirtyAccounts.count)
        // In id order, so the writer walks the state.accounts B-tree once, front to back.
        state.dirtyAccounts.sort()
        for id in state.dirtyAccounts {
            let held = state.accounts[Int(id)]
            let rev: WriteBatch.RevValue?
            if held.lastRev == 0 {
                rev = nil
            } else if held.lastRev & RecordKey.nonTIDFlag != 0 {
                rev = .text(String(decoding: state.nonTIDRevs[id] ?? [], as: UTF8.self))
            } else {
                rev = .tid(Int64(held.lastRev))
            }
            batch.accounts.append(WriteBatch.AccountRow(
                id: id, did: Int(id) >= state.firstNewAccount ? state.dids.string(Int(id)) : nil,
                profileChanged: held.profileEpoch == state.epoch, lastLedgerID: held.lastLedgerID,
                handle: state.handles[Int(id)], handleTimeUS: held.handleTimeUS,
                status: state.statusNames[Int(held.status)], statusTimeUS: held.statusTimeUS,
                consent: held.consent, lastRev: rev, lastOp: Int64(bitPattern: held.lastOp),
                moreOps: (state.moreOps[id] ?? []).map { Int64(bitPattern: $0) }, lastSeq: held.lastSeq,
                xp: held.xp, level: held.level, maxLevel: held.maxLevel))
        }
        // Grants: the keys this batch touched, in the table's key order, each with its
        // final state (a key created and deleted in one batch is just deleted).
        var keys: [GrantKey] = []
        for segment in batch.segments {
            keys += segment.ledger.map { GrantKey(account: $0.account, collection: $0.collection, rkey: $0.rkey) }
            keys += segment.shadowLedger.map { GrantKey(account: $0.account, collection: $0.collection, rkey: $0.rkey) }
            for case let .purge(purge) in segment.barriers {
                for key in purge.grants where key.rkey & RecordKey.nonTIDFlag != 0 { batch.rkeyTexts[key.rkey] = state.rkeyString(key.rkey) }
            }
        }
        keys.sort { ($0.rkey, $0.account, $0.collection) < ($1.rkey, $1.account, $1.collection) }
        batch.grants.reserveCapacity(keys.count)
        var previous: GrantKey?
        for key in keys where key != previous {
            previous = key
            batch.grants.append(WriteBatch.GrantRow(key: key, grant: state.grants.get(key)))
            if key.rkey & RecordKey.nonTIDFlag != 0 { batch.rkeyTexts[key.rkey] = state.rkeyString(key.rkey) }
        }
        batch.limits = drainLimits()
        batch.shadowTotals = drainShadowTotals()
        batch.collections = state.newCollections
        batch.rules = state.newRules
        batch.counterNames = state.newCounterNames
        if let tracker = rankTracker { batch.rankWindow = tracker.options.window }
        if let publisher = rankPublisher {
            batch.rankFeed = publisher.rows
            batch.rankPublishedUS = publisher.crossedUS
            publisher.rows.removeAll(keepingCapacity: true)
            publisher.crossedUS = nil
        }
        batch.rankDecision = pendingDecision
        pendingDecision = nil
        state.newCounterNames.removeAll()
        state.newCollections.removeAll()
        state.newRules.removeAll()
        state.dirtyAccounts.removeAll(keepingCapacity: true)
        state.firstNewAccount = state.accounts.count
        residency.evict(state, cursorUS: cursorUS)
        residency.batchClosed(epoch16: state.epoch16, cursorUS: cursorUS)
        state.epoch &+= 1
        return batch
    }

    /// The open segment's counter increments with their roll-ups, in key order.
    private func drainCounters() -> [(bucket: Int64, account: UInt32, counter: UInt16, amount: Int64)] {
        guard !open.counters.isEmpty else { return [] }
        var entries = open.counters.drain()
        if !rollups.isEmpty {
            for entry in entries {
                guard Int(entry.key.counter) < rollups.count, let (target, seconds) = rollups[Int(entry.key.counter)] else { continue }
                let bucket = entry.key.bucket - ((entry.key.bucket % seconds) + seconds) % seconds
                open.counters.add(CounterTable.Key(bucket: bucket, account: entry.key.account, counter: target), entry.value)
            }
            entries += open.counters.drain()
            entries.sort { $0.key < $1.key }
        }
        return entries.map { ($0.key.bucket, $0.key.account, $0.key.counter, $0.value) }
    }

    /// Appends a ledger entry of the open batch, linked to its account's previous one.
    /// Ids are given in event order as entries are made, so they never depend on batches.
    @inline(__always)
    func appendLedger(_ entry: LedgerEntry) {
        var entry = entry
        let account = Int(entry.account)
        entry.id = state.nextLedgerID
        entry.previousID = state.accounts[account].lastLedgerID
        state.accounts[account].lastLedgerID = state.nextLedgerID
        state.nextLedgerID += 1
        open.open.ledger.append(entry)
    }
}

extension PluginContext {
    /// Hands the seasons that ended (with their grace) to the store for archiving. The
    /// first batch records where this host started, so a restart never skips a season
    /// that ended while it was down.
    private func closeSeasons(_ seasons: SeasonCalendar, _ batch: inout WriteBatch) {
        var through: Int64
        if let stored = seasonsThroughUS {
            through = stored
        } else {
            let first = firstEventUS > 0 ? firstEventUS : cursorUS
            // Seasons that end after the start of the first event's season: that one and later.
            through = seasons.season(containing: first)?.startUS ?? first
            seasonsThroughUS = through
            batch.seasonsThroughUS = through
        }
        let due = seasons.ended(by: cursorUS, after: through)
        guard let last = due.last else { return }
        batch.seasonArchives = due
        batch.seasonArchiveTop = seasons.archiveTop
        batch.seasonGraceUS = seasons.graceUS
        batch.seasonAnnouncement = seasons.announcement
        batch.seasonsThroughUS = last.endUS
        seasonsThroughUS = last.endUS
    }

    /// Starts a new stream day: counters and windowed rule state.limits past their retention
    /// are deleted, as of the day's start (so the pass depends only on the day).
    func startRetentionDay() {
        let day = cursorUS / 86_400_000_000
        retentionDay = day
        let dayStart = day * 86_400
        // Caps count per hour, day or week: a window that started 8 days ago is over.
        let limitsBefore = dayStart - 8 * 86_400
        expireLimits(before: limitsBefore)
        let kept = retention.keptFrom(dayStart: dayStart)
        addBarrier(.retention(daily: kept.daily, hourly: kept.hourly, limitsBefore: limitsBefore))
    }

    /// Queues a deleted account for its purge once the retention period has passed.
    func schedulePurge(_ account: UInt32) {
        state.pendingPurges.append(account)
        state.nextPurgeDueUS = min(state.nextPurgeDueUS, state.accounts[Int(account)].statusTimeUS + retention.deletedAccountUS)
    }

    /// Purges the deleted state.accounts whose retention period has passed on the stream's
    /// clock: XP, state.grants, handle and (in the store) ledger, milestones and outbox rows.
    ///
    /// The account row stays as a tombstone with its last rev, so replaying the events
    /// from before the deletion is still recognised as duplicates and restores nothing.
    func purgeDueAccounts() {
        var due: [UInt32] = []
        var waiting: [UInt32] = []
        var next = Int64.max
        for id in Set(state.pendingPurges) {
            let held = state.accounts[Int(id)]
            guard !held.purged, state.statusNames[Int(held.status)] == "deleted" else { continue }
            let dueUS = held.statusTimeUS + retention.deletedAccountUS
            if dueUS <= cursorUS {
                due.append(id)
            } else {
                waiting.append(id)
                next = min(next, dueUS)
            }
        }
        state.pendingPurges = waiting
        state.nextPurgeDueUS = next
        purge(due)
    }

    /// Purges state.accounts now (in memory), recording a purge barrier for the store.
    func purge(_ ids: [UInt32]) {
        guard !ids.isEmpty else { return }
        let due = Set(ids)
        let keys = state.grants.removeAll(accounts: due)
        state.limits = state.limits.filter { !due.contains($0.key.account) }
        for id in due.sorted() {
            state.recentPurges[id] = state.epoch
            addBarrier(.purge(WriteBatch.Purge(account: id, ledgerHead: state.accounts[Int(id)].lastLedgerID, grants: keys[id] ?? [])))
            state.accounts[Int(id)].purged = true
            if state.shadow.removeValue(forKey: id) != nil { state.dirtyShadow.append(id) }
            state.accounts[Int(id)].xp = 0
            state.accounts[Int(id)].level = 1
            state.accounts[Int(id)].lastLedgerID = 0
            state.handles[Int(id)] = nil
            state.markDirty(id)
            state.markProfileDirty(id)
        }
    }
}

extension PluginContext {
    /// Ledger entries summed per hour of event time and account: the rankings read whole
    /// hours and days from these instead of the ledger (the writer rolls whole days up).
    static func xpBuckets(_ ledger: [LedgerEntry]) -> [(bucket: Int64, account: UInt32, daily: Bool, amount: Int64)] {
        guard !ledger.isEmpty else { return [] }
        var table = CounterTable(capacity: 1 << 12)
        // One hash update per ledger entry.
        for entry in ledger where entry.amount != 0 {
            table.add(CounterTable.Key(bucket: RankTracker.hourOf(entry.timeUS), account: entry.account, counter: 0), Int64(entry.amount))
        }
        return table.drain().compactMap { entry in
            entry.value == 0 ? nil : (entry.key.bucket, entry.key.account, false, entry.value)
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
        if let publisher = rankPublisher {
            publishCrossing(publisher, tracker, at: timeUS / every * every)
        } else {
            evaluateRanks(tracker, at: timeUS / every * every)
        }
    }

    /// Feeds the open segment's ledger entries not fed yet (net XP per hour and account).
    func feedRanks(_ tracker: RankTracker, nowUS: Int64) {
        let ledger = open.open.ledger
        guard open.rankFed < ledger.count else { return }
        var table = CounterTable(capacity: 1 << 10)
        for entry in ledger[open.rankFed...] where entry.amount != 0 {
            table.add(CounterTable.Key(bucket: RankTracker.hourOf(entry.timeUS), account: entry.account, counter: 0), Int64(entry.amount))
        }
        open.rankFed = ledger.count
        for entry in table.drain() where entry.value != 0 && tracker.inWindow(hour: entry.key.bucket, nowUS: nowUS) {
            tracker.add(hour: entry.key.bucket, account: entry.key.account, amount: entry.value)
        }
    }

    /// Decides the ranking changes as of `nowUS` and queues announcements of entries for
    /// opted-in, active state.accounts (the best threshold reached, once per entry).
    func evaluateRanks(_ tracker: RankTracker, at nowUS: Int64) {
        feedRanks(tracker, nowUS: nowUS)
        let events = tracker.evaluate(
            nowUS: nowUS,
            eligible: { self.state.accounts[Int($0)].status == 0 && !tracker.unranked.contains($0) && $0 != self.state.botAccount },
            did: { self.state.dids.string(Int($0)) })
        open.rankEvaluated = true
        open.open.rankEvents += events
        guard tracker.options.announce else { return }
        var best: [UInt32: RankEvent] = [:]
        for event in events where event.kind == .entered {
            if let known = best[event.account], known.threshold <= event.threshold { continue }
            best[event.account] = event
        }
        for (account, event) in best.sorted(by: { $0.key < $1.key }) {
            let held = state.accounts[Int(account)]
            guard held.consent.allowsAnnouncements, held.status == 0 else { continue }
            let did = state.dids.string(Int(account))
            let window = tracker.options.window
            let json = JSONWriter()
            json.object {
                json.field("type", "rank")
                json.field("did", did)
                json.field("handle", state.handles[Int(account)] ?? "")
                json.field("n", event.threshold)
                json.field("rank", event.rank ?? 0)
                json.field("window", window)
                json.field("template", event.threshold == 1 ? rankFirstAnnouncement : rankAnnouncement)
                json.field("mention", held.consent == .optedIn)
            }
            open.open.outbox.append(OutboxRow(key: "rank:\(window):\(event.threshold):\(did):\(event.timeUS)", account: account,
                                              kind: "rank", payload: json.output, createdUS: event.timeUS))
            totals.announcements += 1
        }
    }
}
