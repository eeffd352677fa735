/// Decides the ranking changes of every account from the partitions' feed
/// (``RankFeedRow``), on a partitioned host.
///
/// It replays exactly what a host of every account does at each boundary: the XP
/// applied before it is added, the eligibility as of it is read, the ranks are evaluated
/// with hysteresis. Boundaries are decided only once every partition has published them,
/// so the outcome never depends on which host decides, when, or how often: a host that
/// finds another one ahead takes over the stored state instead of deciding again.
///
/// - Note: Not thread-safe: the applying thread owns it.
public final class RankDecider {
    private let source: any RankFeedSource
    private let partitions: Int
    private let options: RankingOptions
    private var tracker: RankTracker
    private var flags: [UInt32: RankFlags] = [:]
    /// Store account id → host id, and back (for handles).
    private var hostIDs: [Int64: UInt32] = [:]
    private var storeIDs: [UInt32: Int64] = [:]
    private var decidedUS: Int64 = 0
    private var loaded = false
    private var prunedBeforeHour: Int64 = .min

    public init(source: any RankFeedSource, partitions: Int, options: RankingOptions) {
        self.source = source
        self.partitions = partitions
        self.options = options
        tracker = RankTracker(options: options)
    }

    /// Decides every boundary that all partitions have published since the last call.
    /// - Returns: the decision to store with the open batch, or nil when nothing new.
    func advance(_ context: PluginContext) throws -> RankDecision? {
        let (published, stored) = try source.progress(window: options.window, partitions: partitions)
        if !loaded || stored > decidedUS { try reload(context) }
        guard let published, published > decidedUS else { return nil }
        let entries = try source.feed(window: options.window, after: decidedUS, through: published)
        try resolve(entries, context)
        var decision = RankDecision(state: RankDecisionState(decidedUS: published, members: []))
        var announced: [(account: UInt32, event: RankEvent)] = []
        var index = 0
        while index < entries.count {
            let boundary = entries[index].boundaryUS
            var marker = false
            while index < entries.count, entries[index].boundaryUS == boundary {
                let entry = entries[index]
                index += 1
                if entry.kind == .marker {
                    marker = true
                } else {
                    take(entry, context)
                }
            }
            if marker { evaluate(at: boundary, context, into: &decision, announcing: &announced) }
        }
        try announce(announced, context, into: &decision)
        decidedUS = published
        decision.state.members = members(context)
        let firstHour = StoredState.firstRankHour(cursorUS: published, windowSeconds: options.windowSeconds)
        if firstHour > prunedBeforeHour {
            prunedBeforeHour = firstHour
            decision.pruneBeforeHour = firstHour - 3_600
        }
        return decision
    }

    /// Takes over the stored decision state (at start, or when another host is ahead).
    private func reload(_ context: PluginContext) throws {
        let (state, entries) = try source.decisionState(window: options.window, windowSeconds: options.windowSeconds)
        try resolve(entries, context)
        tracker = RankTracker(options: options)
        flags = [:]
        for entry in entries { take(entry, context) }
        for member in state.members where tracker.members[member.threshold] != nil {
            let account = UInt32(context.internAccount(member.did).id)
            tracker.members[member.threshold]![account] = (member.enteredUS, member.outSinceUS)
        }
        tracker.lastCheckUS = state.decidedUS
        decidedUS = state.decidedUS
        loaded = true
    }

    /// Names the store ids this host has not met (one query for all of them).
    private func resolve(_ entries: [RankFeedEntry], _ context: PluginContext) throws {
        var unknown = Set<Int64>()
        for entry in entries where entry.kind != .marker && hostIDs[entry.account] == nil { unknown.insert(entry.account) }
        guard !unknown.isEmpty else { return }
        for (id, did) in try source.accounts(ids: unknown.sorted()) {
            let account = UInt32(context.internAccount(did).id)
            hostIDs[id] = account
            storeIDs[account] = id
        }
    }

    private func take(_ entry: RankFeedEntry, _ context: PluginContext) {
        guard let account = hostIDs[entry.account] else { return }
        switch entry.kind {
        case .xp: tracker.add(hour: entry.hour, account: account, amount: entry.value)
        case .flags: flags[account] = RankFlags(rawValue: entry.value)
        case .marker: break
        }
    }

    private func evaluate(at boundary: Int64, _ context: PluginContext, into decision: inout RankDecision,
                          announcing announced: inout [(account: UInt32, event: RankEvent)]) {
        let bot = context.state.botAccount
        let events = tracker.evaluate(
            nowUS: boundary,
            eligible: { account in
                let held = self.flags[account] ?? []
                return !held.contains(.inactive) && !held.contains(.unranked) && account != bot
            },
            did: { context.state.dids.string(Int($0)) })
        for event in events {
            decision.changes.append(RankDecision.Change(did: context.state.dids.string(Int(event.account)), event: event))
        }
        guard options.announce else { return }
        var best: [UInt32: RankEvent] = [:]
        for event in events where event.kind == .entered {
            if let known = best[event.account], known.threshold <= event.threshold { continue }
            best[event.account] = event
        }
        for (account, event) in best.sorted(by: { $0.key < $1.key }) {
            let held = flags[account] ?? []
            guard held.contains(.announce), !held.contains(.inactive) else { continue }
            announced.append((account, event))
        }
    }

    /// The announcements of entries, with each account's handle (this host's own
    /// accounts' from memory, others' as their owners stored them).
    private func announce(_ announced: [(account: UInt32, event: RankEvent)], _ context: PluginContext,
                          into decision: inout RankDecision) throws {
        guard !announced.isEmpty else { return }
        let missing = announced.compactMap { context.state.handles[Int($0.account)] == nil ? storeIDs[$0.account] : nil }
        let stored = missing.isEmpty ? [:] : try source.handles(ids: missing)
        for (account, event) in announced {
            let held = flags[account] ?? []
            let did = context.state.dids.string(Int(account))
            let handle = context.state.handles[Int(account)] ?? storeIDs[account].flatMap { stored[$0] } ?? ""
            let json = JSONWriter()
            json.object {
                json.field("type", "rank")
                json.field("did", did)
                json.field("handle", handle)
                json.field("n", event.threshold)
                json.field("rank", event.rank ?? 0)
                json.field("window", options.window)
                json.field("template", event.threshold == 1 ? context.rankFirstAnnouncement : context.rankAnnouncement)
                json.field("mention", held.contains(.mention))
            }
            decision.announcements.append(RankDecision.Announcement(
                key: "rank:\(options.window):\(event.threshold):\(did):\(event.timeUS)", did: did, payload: json.output,
                createdUS: event.timeUS))
        }
    }

    private func members(_ context: PluginContext) -> [(threshold: Int, did: String, enteredUS: Int64, outSinceUS: Int64?)] {
        tracker.members.flatMap { threshold, group in
            group.map { (threshold, context.state.dids.string(Int($0.key)), $0.value.enteredUS, $0.value.outSinceUS) }
        }.sorted { ($0.threshold, $0.did) < ($1.threshold, $1.did) }
    }
}
