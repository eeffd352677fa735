import BotHost
import Dispatch
import Synchronization

/// Decides and signs a labeler pass: for every subject, the label it should carry (its
/// tier's, when it may carry one) against the one it carries, and the labels that close
/// the gap. A tier change is a negation of the old value, then the new label; an account
/// that may no longer carry one (opted out, blocked the bot, excluded, purged,
/// deactivated) gets the negation only. Nobody who has not opted in is ever labeled.
public struct LabelIssuer: Sendable {
    public let src: String
    public let tiers: [LabelTier]
    public let signer: LabelSigner
    /// Lifetime of a label (`exp`); nil: labels do not expire.
    public let expiryUS: Int64?

    public init(src: String, tiers: [LabelTier], signer: LabelSigner, expiryUS: Int64? = nil) {
        self.src = src
        self.tiers = tiers.sorted { $0.level < $1.level }
        self.signer = signer
        self.expiryUS = expiryUS
    }

    /// The labels that bring `subjects` to what they should carry at `nowUS`, signed.
    public func decide(_ subjects: [LabelSubject], nowUS: Int64) throws -> [StoredLabel] {
        let cts = Label.timestamp(nowUS)
        let exp = expiryUS.map { Label.timestamp(nowUS + $0) }
        // Renewed once half the lifetime is gone.
        let renewBefore = expiryUS.map { Label.timestamp(nowUS + $0 / 2) }
        var drafts: [Label] = []
        for subject in subjects {
            let desired = subject.eligible ? LabelTier.tier(for: subject.level, in: tiers)?.value : nil
            if subject.current == desired {
                guard desired != nil else { continue }
                let stale = switch (subject.currentExp, renewBefore) {
                case (nil, nil): false
                case (let current?, let limit?): current < limit
                default: true  // expiry turned on or off since it was issued
                }
                if !stale { continue }
            } else if let current = subject.current {
                drafts.append(Label(src: src, uri: subject.did, val: current, neg: true, cts: cts))
            }
            if let desired {
                drafts.append(Label(src: src, uri: subject.did, val: desired, cts: cts, exp: exp))
            }
        }
        return try sign(drafts)
    }

    /// Signs in order; a large pass (a labeler turned on over many opted-in accounts) on
    /// every core, since signing is nearly all of its cost (perf).
    private func sign(_ drafts: [Label]) throws -> [StoredLabel] {
        let chunk = 256
        guard drafts.count > chunk else { return try drafts.map(signed) }
        let chunks = (drafts.count + chunk - 1) / chunk
        let results = Mutex<[Int: Result<[StoredLabel], any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: chunks) { index in
            let part = drafts[(index * chunk)..<min(drafts.count, (index + 1) * chunk)]
            let result = Result { try part.map(signed) }
            results.withLock { $0[index] = result }
        }
        return try results.withLock { all in try (0..<chunks).flatMap { try all[$0]!.get() } }
    }

    /// One pass against a store: reads the subjects, appends the labels, in one transaction.
    @discardableResult
    public func pass(_ store: any LabelStore, nowUS: Int64 = Clock.nowMicroseconds()) throws -> [StoredLabel] {
        guard let lowest = tiers.first?.level else { return [] }
        return try store.issueLabels(minimumLevel: lowest) { subjects in try decide(subjects, nowUS: nowUS) }
    }

    private func signed(_ label: Label) throws -> StoredLabel {
        let label = try signer.sign(label)
        return StoredLabel(src: label.src, uri: label.uri, val: label.val, neg: label.neg, cts: label.cts, exp: label.exp, sig: label.sig ?? [])
    }
}

extension StoredLabel {
    /// The atproto label, with its signature.
    public var label: Label {
        var label = Label(src: src, uri: uri, val: val, neg: neg, cts: cts, exp: exp)
        label.sig = sig
        return label
    }
}
