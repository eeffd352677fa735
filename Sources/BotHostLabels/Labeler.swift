import BotHost
import CoreMetrics

/// The labeler as a host runs it: a pass issues what changed (``LabelIssuer``) and prunes
/// superseded labels past the retention. `bothost run` makes a pass every few seconds,
/// `bothost replay` one at its end, `bothost labeler sync` one on demand.
public struct Labeler: Sendable {
    public let issuer: LabelIssuer
    public let retentionUS: Int64?

    /// What a pass did.
    public struct Pass: Sendable, Equatable {
        public var issued: [StoredLabel] = []
        public var pruned = 0
        public var labels: Int { issued.count { !$0.neg } }
        public var negations: Int { issued.count { $0.neg } }
    }

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Parameters:
    ///   - botDID: the bot's DID, the labeler's unless the config names another.
    ///   - milestones: the level milestones, for the default tiers.
    public init(configuration: LabelerConfiguration, botDID: String?, milestones: [Int], signer: LabelSigner) throws(Problem) {
        guard let did = configuration.did ?? botDID else {
            throw Problem(description: "the labeler needs a DID: set labeler.did or bot.did (or log in as the bot)")
        }
        let tiers = configuration.effectiveTiers(milestones: milestones)
        for tier in tiers {
            if let problem = LabelTier.problem(with: tier.value) { throw Problem(description: "tier \(tier.level): \(problem)") }
        }
        issuer = LabelIssuer(src: did, tiers: tiers, signer: signer,
                             expiryUS: configuration.expiryDays.map { Int64($0) * 86_400_000_000 })
        retentionUS = configuration.retentionDays.map { Int64($0) * 86_400_000_000 }
    }

    /// One pass: issue, then prune.
    public func pass(_ store: any LabelStore, nowUS: Int64 = Clock.nowMicroseconds()) throws -> Pass {
        var result = Pass()
        result.issued = try issuer.pass(store, nowUS: nowUS)
        if let retentionUS { result.pruned = try store.pruneLabels(before: Label.timestamp(nowUS - retentionUS)) }
        if result.labels > 0 { Self.issuedLabels.increment(by: result.labels) }
        if result.negations > 0 { Self.issuedNegations.increment(by: result.negations) }
        return result
    }

    static let issuedLabels = Counter(label: "bothost_labels_issued_total", dimensions: [("kind", "label")])
    static let issuedNegations = Counter(label: "bothost_labels_issued_total", dimensions: [("kind", "negation")])
}
