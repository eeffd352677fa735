/// What a rule limit remembers per account (see ``PluginContext/limit(_:_:key:)``).
public enum LimitKind: UInt8, Sendable {
    /// XP a rule granted in the window starting at `key` (unix seconds).
    case capXP = 0
    /// Grants a rule made in the window starting at `key`.
    case capGrants = 1
    /// Event time of the rule's last grant (`key` 0).
    case lastGrant = 2
    /// The record key of the grant made for the subject hashed to `key`.
    case once = 3
    /// A plugin's own number under `key` (e.g. a posting streak), kept until purged.
    case value = 4
    /// A pack counter's count for the UTC day starting at `key` (unix seconds).
    case dailyCount = 5

    /// Whether the entry belongs to a time window (and expires with it).
    var isWindowed: Bool { self == .capXP || self == .capGrants || self == .dailyCount }
}

/// One remembered value of a rule limit.
public struct LimitKey: Hashable, Sendable {
    public var account: UInt32
    public var slot: UInt16
    public var kind: LimitKind
    public var key: Int64

    package init(account: UInt32, slot: UInt16, kind: LimitKind, key: Int64) {
        self.account = account
        self.slot = slot
        self.kind = kind
        self.key = key
    }
}

extension PluginContext {
    /// Names a limit slot: state.limits are remembered per slot name (e.g. `leveling/post`),
    /// not per rule version, so a reloaded pack keeps the caps its earlier version used.
    public func registerLimitSlot(_ name: String) -> CounterRef {
        registerCounter("limit:" + name)
    }

    /// The current account's remembered value, or nil.
    ///
    /// Caps, cooldowns and once-per-subject state.limits are state like XP: they live in
    /// memory, are written with the batch that changed them (one transaction with the
    /// cursor), and are reloaded at start, so a resumed replay decides exactly as an
    /// uninterrupted one.
    @inline(__always)
    public func limit(_ slot: CounterRef, _ kind: LimitKind, key: Int64) -> Int64? {
        state.limits[LimitKey(account: account, slot: slot.index, kind: kind, key: key)]
    }

    /// Sets the current account's remembered value.
    public func setLimit(_ slot: CounterRef, _ kind: LimitKind, key: Int64, _ value: Int64) {
        let limitKey = LimitKey(account: account, slot: slot.index, kind: kind, key: key)
        state.limits[limitKey] = value
        state.dirtyLimits.append(limitKey)
    }

    /// The live grant of the current commit's record (in the live or the shadow ledger).
    public func currentGrant(shadow: Bool = false) -> Grant? {
        loadGrant(shadow ? shadowKey(currentKey) : currentKey)
    }

    /// Whether the current account holds a live grant for a record of one of
    /// `collections` with record key `rkey` (an encoded key, see ``currentRecordKey``).
    public func holdsGrant(collections: [UInt16], rkey: UInt64, shadow: Bool = false) -> Bool {
        for collection in collections {
            let key = GrantKey(account: account, collection: collection, rkey: rkey)
            if loadGrant(shadow ? shadowKey(key) : key) != nil { return true }
        }
        return false
    }

    /// The current record's encoded key (a TID's value, or an interned id with a flag).
    public var currentRecordKey: UInt64 { currentKey.rkey }

    /// The name of the rule that made a grant (its pack rule id, or plugin rule name).
    public func ruleName(of grant: Grant) -> String? {
        Int(grant.rule) < state.rules.count ? state.rules[Int(grant.rule)].rule : nil
    }

    /// The rule state.limits changed since the batch opened, each with its final value.
    func drainLimits() -> [(key: LimitKey, value: Int64?)] {
        guard !state.dirtyLimits.isEmpty else { return [] }
        var seen = Set<LimitKey>()
        var rows: [(key: LimitKey, value: Int64?)] = []
        for key in state.dirtyLimits where seen.insert(key).inserted { rows.append((key, state.limits[key])) }
        state.dirtyLimits.removeAll(keepingCapacity: true)
        return rows
    }

    /// Forgets windowed state.limits whose window started before `seconds`.
    func expireLimits(before seconds: Int64) {
        state.limits = state.limits.filter { !$0.key.kind.isWindowed || $0.key.key >= seconds }
    }
}
