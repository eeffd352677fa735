import BotHost
import Rules

/// Runs a checked rule pack as a plugin, through the same effects as the Swift plugins
/// (keyed grants and revocations through ``PluginContext``): there is one mechanism.
///
/// Per event: a delete revokes the record's live grant; a create or update is granted
/// by the first rule (in pack order) for its collection and operation whose `when`
/// holds, with the amount of its `xp` expression.
public final class RulePackPlugin: Plugin {
    public let id: String
    public let collections: [String]
    private let pack: RulePack
    private let versionTag: String
    private struct CompiledRule {
        var operations: Set<CommitOperation>
        var condition: Compiled?
        var xp: Compiled?
        var counter: CounterRef?
        var rule: RuleRef
    }
    private var rules: [CompiledRule] = []
    /// Per collection id: indices of the rules for it, in pack order.
    private var byCollection: [UInt16: [Int]] = [:]
    private let environment = PackEnvironment()

    /// When set, `handle` records why each rule did or did not grant (`rules explain`).
    public var trace: [String]?

    /// Errors for features the checker accepts but this runtime does not run yet.
    public struct Unsupported: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameter versionTag: recorded with every ledger entry (e.g. the pack's content hash).
    public init(pack: RulePack, versionTag: String) throws {
        for rule in pack.rules where rule.cap != nil || rule.cooldownSeconds != nil || rule.oncePer != nil {
            throw Unsupported(description: "rule '\(rule.id)': cap, cooldown and once_per are checked but not run by this version; remove them to run the pack")
        }
        self.pack = pack
        self.id = "pack:" + pack.id
        self.versionTag = versionTag
        var seen: [String] = []
        for rule in pack.rules { for nsid in rule.collections where !seen.contains(nsid) { seen.append(nsid) } }
        collections = seen
    }

    public func register(in context: PluginContext) {
        environment.context = context
        environment.postCollection = context.collectionID("app.bsky.feed.post")
        let compiler = PackCompiler()
        for (index, rule) in pack.rules.enumerated() {
            var operations = Set<CommitOperation>()
            for op in rule.operations {
                switch op {
                case "create": operations.insert(.create)
                case "update": operations.insert(.update)
                default: operations.insert(.delete)
                }
            }
            rules.append(CompiledRule(
                operations: operations, condition: rule.condition.map { compiler.compile($0) }, xp: rule.xp.map { compiler.compile($0) },
                counter: rule.counter.map { context.registerCounter($0) },
                rule: context.registerRule(plugin: pack.id, rule: rule.id, version: versionTag)))
            for nsid in rule.collections { byCollection[context.collectionID(nsid), default: []].append(index) }
        }
    }

    public func handle(_ event: Event, in context: PluginContext) {
        guard let commit = event.commit, let candidates = byCollection[context.currentCollection] else {
            trace?.append("no rule reads this collection")
            return
        }
        if commit.operation == .delete {
            trace?.append("delete: revokes the record's live grant, whatever rule made it")
            context.revoke(rule: rules[candidates[0]].rule)
            return
        }
        environment.event = event
        environment.record = commit.record
        defer { environment.event = nil; environment.record = nil }
        for index in candidates {
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
            if let counter = rule.counter {
                let day = event.timeUS / 86_400_000_000 * 86_400
                context.increment(counter, bucketStart: day)
                trace?.append("\(name): counter \(pack.rules[index].counter ?? "") +1")
            }
            if let xp = rule.xp {
                let amount = Int(xp(environment).int ?? 0)
                trace?.append("\(name): \(rule.condition == nil ? "no condition" : "when is true"), xp = \(amount): grants it (first matching rule; later rules are not tried)")
                context.grant(amount: amount, rule: rule.rule)
                return
            }
        }
    }
}
