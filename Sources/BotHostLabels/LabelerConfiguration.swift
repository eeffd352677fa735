/// The labeler's settings (`labeler:` in the config file, docs/labels.md).
public struct LabelerConfiguration: Sendable, Equatable {
    /// The labeler's DID, which signs as `src`; default: the bot's DID.
    public var did: String?
    /// A mode-0600 file with the private key (64 hex digits, `bothost labeler key` writes
    /// one); without it, `BOTHOST_LABELER_KEY`.
    public var keyFile: String?
    /// Tiers from the lowest level up; nil: one per milestone (`level-five`, …).
    public var tiers: [LabelTier]?
    /// Seconds between labeler passes in `bothost run`.
    public var intervalSeconds: Int = 5
    /// When set, labels carry `exp` this many days ahead and are renewed at half that age,
    /// so a labeler that stops leaves no badge standing for longer.
    public var expiryDays: Int?
    /// When set, labels created this many days ago that no account carries any more (a
    /// label and its negation) are pruned; consumers further behind are told.
    public var retentionDays: Int?

    public init() {}

    /// The tiers in effect: the configured ones, or one per milestone level.
    public func effectiveTiers(milestones: [Int]) -> [LabelTier] {
        (tiers ?? Set(milestones).sorted().map(LabelTier.standard)).sorted { $0.level < $1.level }
    }
}
