/// The partitioned side of the rankings (``RankDecider``, docs/scaling.md): this host
/// publishes its own accounts' part of the ranking window and decides from everyone's.
final class RankPublisher {
    /// The flags last published per host account id (0 where none was).
    var published: [Int64] = []
    /// The rows of the open batch.
    var rows: [RankFeedRow] = []
    /// The newest boundary crossed in the open batch.
    var crossedUS: Int64?
}

extension PluginContext {
    /// Makes this (partitioned) host publish its accounts' ranking rows and decide the
    /// ranks from every partition's (`flags`: what this partition published last, by DID).
    public func publishRanks(decider: RankDecider, flags: [String: Int64]) {
        let publisher = RankPublisher()
        for (did, value) in flags {
            guard let id = state.dids.find(did) else { continue }
            while publisher.published.count <= id { publisher.published.append(0) }
            publisher.published[id] = value
        }
        rankPublisher = publisher
        rankDecider = decider
    }

    /// The first boundary after the last evaluation: rows published before the stream
    /// crosses one are stamped with it (the crossing's own boundary may be later; the
    /// decider adds rows in stamp order before each evaluation, which is the same).
    func nextRankStamp(_ tracker: RankTracker) -> Int64 {
        let every = max(1, tracker.options.checkEveryUS)
        return (max(0, tracker.lastCheckUS) / every + 1) * every
    }

    /// Moves this host's ledger entries not yet published (net XP per hour and account)
    /// into the open batch's feed, stamped `stamp`.
    func publishDeltas(_ publisher: RankPublisher, stamp: Int64) {
        let ledger = open.open.ledger
        guard open.rankFed < ledger.count else { return }
        var table = CounterTable(capacity: 1 << 10)
        for entry in ledger[open.rankFed...] where entry.amount != 0 && !residency.isForeign(entry.account) {
            table.add(CounterTable.Key(bucket: RankTracker.hourOf(entry.timeUS), account: entry.account, counter: 0), Int64(entry.amount))
        }
        open.rankFed = ledger.count
        for entry in table.drain() where entry.value != 0 {
            publisher.rows.append(RankFeedRow(boundaryUS: stamp, kind: .xp, account: entry.key.account, hour: entry.key.bucket,
                                              value: entry.value))
        }
    }

    /// The stream passed `boundary`: the XP before it, this host's accounts whose
    /// eligibility changed, and the boundary's marker are published.
    func publishCrossing(_ publisher: RankPublisher, _ tracker: RankTracker, at boundary: Int64) {
        publishDeltas(publisher, stamp: boundary)
        let checkUnranked = !tracker.unranked.isEmpty
        if publisher.published.count < state.accounts.count {
            publisher.published.append(contentsOf: repeatElement(0, count: state.accounts.count - publisher.published.count))
        }
        for id in 0..<state.accounts.count where !residency.isForeign(UInt32(id)) {
            let held = state.accounts[id]
            var flags: RankFlags = []
            if held.status != 0 { flags.insert(.inactive) }
            if checkUnranked && tracker.unranked.contains(UInt32(id)) { flags.insert(.unranked) }
            if held.consent.allowsAnnouncements { flags.insert(.announce) }
            if held.consent == .optedIn { flags.insert(.mention) }
            guard flags.rawValue != publisher.published[id] else { continue }
            publisher.published[id] = flags.rawValue
            publisher.rows.append(RankFeedRow(boundaryUS: boundary, kind: .flags, account: UInt32(id), hour: 0, value: flags.rawValue))
        }
        publisher.rows.append(RankFeedRow(boundaryUS: boundary, kind: .marker, account: 0, hour: 0, value: 0))
        publisher.crossedUS = boundary
        tracker.lastCheckUS = boundary
    }

    /// Decides what every partition has published (at a batch's end): the decision goes
    /// into the open batch.
    /// - Throws: a store error reading the feed.
    public func decideRanks() throws {
        guard let decider = rankDecider, let decision = try decider.advance(self) else { return }
        if var merged = pendingDecision {
            merged.state = decision.state
            merged.changes += decision.changes
            merged.announcements += decision.announcements
            merged.pruneBeforeHour = decision.pruneBeforeHour ?? merged.pruneBeforeHour
            pendingDecision = merged
        } else {
            pendingDecision = decision
        }
        totals.announcements += decision.announcements.count
    }

    /// Whether this host decides its rankings from the partitions' feed.
    public var decidesRanksFromFeed: Bool { rankDecider != nil }
}
