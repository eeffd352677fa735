import BotHost
import Rules

/// Runs a checked rule pack as a plugin, through the same effects as the Swift plugins
/// (keyed grants and revocations through ``PluginContext``): there is one mechanism.
///
/// Per event: a delete revokes the record's live grant; an update re-grades the grant
/// by the rule that made it; a create is granted by the first rule (in pack order) for
/// its collection and operation whose `when` holds and whose limits (cap, cooldown,
/// once per subject) leave room. A pack in `mode: shadow` grants into the shadow ledger.
public final class RulePackPlugin: Plugin {
    public let id: String
    public let collections: [String]
    /// The checked pack this plugin runs.
    public let pack: RulePack
    /// The version recorded with every ledger entry (the pack's version and content hash).
    public let versionTag: String
    /// Whether grants go to the shadow ledger.
    public let isShadow: Bool
    private struct CompiledRule {
        var operations: Set<CommitOperation>
        var condition: Compiled?
        var xp: Compiled?
        var oncePer: Compiled?
        var counter: CounterRef?
        /// The counter's remembered daily count (read by `today`).
        var counterSlot: CounterRef?
        var rule: RuleRef
        var limitSlot: CounterRef?
        var collectionIDs: [UInt16]
    }
    private var rules: [CompiledRule] = []
    /// Per collection id: indices of the rules for it, in pack order.
    private var byCollection: [UInt16: [Int]] = [:]
    private let environment = PackEnvironment()

    /// When set, `handle` records why each rule did or did not grant (`rules explain`).
    public var trace: [String]?

    /// - Parameters:
    ///   - versionTag: recorded with every ledger entry (e.g. the pack's content hash).
    ///   - shadow: grant into the shadow ledger (default: the pack's `mode`).
    public init(pack: RulePack, versionTag: String, shadow: Bool? = nil) {
        self.pack = pack
        self.isShadow = shadow ?? (pack.mode == .shadow)
        self.id = (isShadow ? "shadow:" : "pack:") + pack.id
        self.versionTag = versionTag
        var seen: [String] = []
        for rule in pack.rules { for nsid in rule.collections where !seen.contains(nsid) { seen.append(nsid) } }
        collections = seen
    }

    public func register(in context: PluginContext) {
        environment.context = context
        environment.shadow = isShadow
        environment.postCollection = context.collectionID("app.bsky.feed.post")
        if isShadow, !pack.milestones.isEmpty { context.shadowMilestoneLevels = pack.milestones }
        rules.removeAll()
        byCollection.removeAll()
        var compiler = PackCompiler()
        let prefix = (isShadow ? "shadow:" : "") + pack.id + "/counter:"
        for name in Set(pack.rules.compactMap(\.counter)) { compiler.counterSlots[name] = context.registerLimitSlot(prefix + name) }
        for (index, rule) in pack.rules.enumerated() {
            var operations = Set<CommitOperation>()
            for op in rule.operations {
                switch op {
                case "create": operations.insert(.create)
                case "update": operations.insert(.update)
                default: operations.insert(.delete)
                }
            }
            let limited = rule.cap != nil || rule.cooldownSeconds != nil || rule.oncePer != nil
            let ids = rule.collections.map { context.collectionID($0) }
            rules.append(CompiledRule(
                operations: operations, condition: rule.condition.map { compiler.compile($0) }, xp: rule.xp.map { compiler.compile($0) },
                oncePer: rule.oncePer.map { compiler.compile($0) },
                counter: rule.counter.map { context.registerCounter($0) },
                counterSlot: rule.counter.flatMap { compiler.counterSlots[$0] },
                rule: context.registerRule(plugin: (isShadow ? "shadow:" : "") + pack.id, rule: rule.id, version: versionTag),
                limitSlot: limited ? context.registerLimitSlot((isShadow ? "shadow:" : "") + pack.id + "/" + rule.id) : nil,
                collectionIDs: ids))
            for id in ids { byCollection[id, default: []].append(index) }
        }
    }

    public func handle(_ event: Event, in context: PluginContext) {
        guard let commit = event.commit, let candidates = byCollection[context.currentCollection] else {
            trace?.append("no rule reads this collection")
            return
        }
        if commit.operation == .delete {
            trace?.append("delete: revokes the record's live grant, whatever rule made it")
            if isShadow { context.shadowRevoke(rule: rules[candidates[0]].rule) } else { context.revoke(rule: rules[candidates[0]].rule) }
            return
        }
        environment.event = event
        environment.record = commit.record
        defer { environment.event = nil; environment.record = nil }
        // An update re-grades by the rule that made the grant (limits counted once, at
        // the grant): a later rule, or a bonus rule's limit, never changes its class.
        var existing: Grant?
        if commit.operation == .update {
            existing = context.currentGrant(shadow: isShadow)
            guard existing != nil else {
                trace?.append("update of a record with no live grant: nothing to re-grade")
                return
            }
        } else if context.currentGrant(shadow: isShadow) != nil {
            trace?.append("create of a record that already has a live grant: nothing changes")
            return
        }
        let maker = existing.flatMap { context.ruleName(of: $0) }.flatMap { name in candidates.first { pack.rules[$0].id == name } }
        for index in maker.map({ [$0] }) ?? candidates {
            let rule = rules[index]
            let name = pack.rules[index].id
            guard rule.operations.contains(commit.operation) else {
                trace?.append("\(name): not for this operation (ops: \(pack.rules[index].operations.joined(separator: ", ")))")
                continue
            }
            if let condition = rule.condition, !condition(environment).bool {
                trace?.append("\(name): when is false")
                continue
            }
            var amount = rule.xp.map { Int($0(environment).int ?? 0) }
            if let slot = rule.limitSlot, amount != nil {
                guard let allowed = applyLimits(index, slot, amount: amount!, existing: existing, event: event, context) else { continue }
                amount = allowed
            }
            if let counter = rule.counter {
                let day = event.timeUS / 86_400_000_000 * 86_400
                context.increment(counter, bucketStart: day)
                if let slot = rule.counterSlot {
                    context.setLimit(slot, .dailyCount, key: day, (context.limit(slot, .dailyCount, key: day) ?? 0) + 1)
                }
                trace?.append("\(name): counter \(pack.rules[index].counter ?? "") +1")
            }
            if let amount {
                trace?.append("\(name): \(rule.condition == nil ? "no condition" : "when is true"), xp = \(amount): grants it (first matching rule; later rules are not tried)")
                if isShadow { context.shadowGrant(amount: amount, rule: rule.rule) } else { context.grant(amount: amount, rule: rule.rule) }
                return
            }
        }
    }

    /// Checks a limited rule's cap, cooldown and once-per key for a grant of `amount`:
    /// nil when the rule must not match (the next rule is tried), else the amount it may
    /// grant (an XP cap clamps to the room left). Records what the grant uses.
    private func applyLimits(_ index: Int, _ slot: CounterRef, amount: Int, existing: Grant?, event: Event,
                             _ context: PluginContext) -> Int? {
        let spec = pack.rules[index]
        let rule = rules[index]
        let name = spec.id
        if let existing {
            // A re-grade: only an XP cap limits it, by the room left for a raise.
            guard let cap = spec.cap, let maxXP = cap.xp else { return amount }
            let window = cap.windowStart(timeUS: event.timeUS)
            let used = context.limit(slot, .capXP, key: window) ?? 0
            let raise = amount - Int(existing.amount)
            guard raise > 0 else { return amount }
            let allowed = min(raise, max(0, maxXP - Int(used)))
            if allowed > 0 { context.setLimit(slot, .capXP, key: window, used + Int64(allowed)) }
            if allowed < raise { trace?.append("\(name): cap of \(maxXP) XP per \(cap.per) allows a raise of \(allowed) of \(raise)") }
            return Int(existing.amount) + allowed
        }
        var onceKey: Int64?
        if let oncePer = rule.oncePer {
            let subject = oncePer(environment)
            let hash = PackValue.hash(subject)
            if let rkey = context.limit(slot, .once, key: hash),
               rkey < 0 || context.holdsGrant(collections: rule.collectionIDs, rkey: UInt64(rkey), shadow: isShadow) {
                trace?.append("\(name): once_per: this account already holds a grant of this rule for \(subject.text ?? "this subject")")
                return nil
            }
            onceKey = hash
        }
        if let seconds = spec.cooldownSeconds, let last = context.limit(slot, .lastGrant, key: 0),
           event.timeUS - last < Int64(seconds) * 1_000_000 {
            trace?.append("\(name): cooldown: the rule granted \((event.timeUS - last) / 1_000_000)s ago, less than \(seconds)s")
            return nil
        }
        var granted = amount
        if let cap = spec.cap {
            let window = cap.windowStart(timeUS: event.timeUS)
            if let maxGrants = cap.grants {
                let used = context.limit(slot, .capGrants, key: window) ?? 0
                guard used < maxGrants else {
                    trace?.append("\(name): cap of \(maxGrants) grant\(maxGrants == 1 ? "" : "s") per \(cap.per) reached")
                    return nil
                }
                context.setLimit(slot, .capGrants, key: window, used + 1)
            }
            if let maxXP = cap.xp, granted > 0 {
                let used = context.limit(slot, .capXP, key: window) ?? 0
                guard used < maxXP else {
                    trace?.append("\(name): cap of \(maxXP) XP per \(cap.per) reached")
                    return nil
                }
                if Int64(granted) > Int64(maxXP) - used {
                    granted = Int(Int64(maxXP) - used)
                    trace?.append("\(name): cap of \(maxXP) XP per \(cap.per) leaves \(granted)")
                }
                context.setLimit(slot, .capXP, key: window, used + Int64(granted))
            }
        }
        if spec.cooldownSeconds != nil { context.setLimit(slot, .lastGrant, key: 0, event.timeUS) }
        if let onceKey {
            let rkey = context.currentRecordKey
            context.setLimit(slot, .once, key: onceKey, rkey & RecordKey.nonTIDFlag != 0 ? -1 : Int64(rkey))
        }
        return granted
    }
}
