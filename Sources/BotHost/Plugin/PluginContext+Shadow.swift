import Rules

/// A shadow pack's running totals for one account: what it would have granted.
public struct ShadowTotals: Sendable, Equatable {
    public var xp: Int64 = 0
    public var level: Int32 = 1
    public var maxLevel: Int32 = 1

    package init(xp: Int64 = 0, level: Int32 = 1, maxLevel: Int32 = 1) {
        self.xp = xp
        self.level = level
        self.maxLevel = maxLevel
    }
}

extension PluginContext {
    /// Set on the collection id of shadow grants: they share the grant table (and its
    /// persistence and purges) with the live ones without ever meeting them.
    static let shadowFlag: UInt16 = 0x8000

    @inline(__always)
    func shadowKey(_ key: GrantKey) -> GrantKey {
        GrantKey(account: key.account, collection: key.collection | Self.shadowFlag, rkey: key.rkey)
    }

    /// Grants `amount` in the shadow ledger, with the same idempotency as
    /// ``grant(amount:tag:rule:)``: a pack in `mode: shadow` is tried on live traffic
    /// without changing anyone's XP, level or announcements. What it would have done is
    /// kept apart (shadow ledger, totals and milestones) for `bothost state.rules diff`.
    public func shadowGrant(amount: Int, tag: UInt8 = 0, rule: RuleRef) {
        keyedGrant(shadowKey(currentKey), amount: Int32(clamping: amount), tag: tag, rule: rule, shadow: true)
    }

    /// Revokes the current record's shadow grant, if any.
    public func shadowRevoke(rule: RuleRef) {
        keyedRevoke(shadowKey(currentKey), rule: rule, shadow: true)
    }

    /// The shadow grant of a record named by author, collection and key (`grantOf` in a
    /// shadow pack reads the shadow's own state.grants).
    public func shadowGrant(did: UnsafeRawBufferPointer, collection: UInt16, rkey: UnsafeRawBufferPointer) -> Grant? {
        guard let author = state.dids.find(did), let key = state.recordKey(rkey, intern: false) else { return nil }
        return loadGrant(GrantKey(account: UInt32(author), collection: collection | Self.shadowFlag, rkey: key))
    }

    /// The current account's shadow totals.
    public var shadowTotals: ShadowTotals { state.shadow[account] ?? ShadowTotals() }

    func appendShadowLedger(_ key: GrantKey, _ kind: LedgerEntry.Kind, _ amount: Int32, _ rule: RuleRef) {
        open.open.shadowLedger.append(LedgerEntry(account: key.account, collection: key.collection, kind: kind,
                                        rule: rule.index, rkey: key.rkey, amount: amount, timeUS: currentTimeUS))
    }

    func addShadowXP(_ delta: Int64) {
        var totals = state.shadow[account] ?? ShadowTotals()
        totals.xp = max(0, totals.xp + delta)
        totals.level = Int32(clamping: progression.curve.level(forXP: totals.xp))
        if totals.level > totals.maxLevel {
            for milestone in shadowMilestoneLevels ?? progression.milestones
            where milestone > Int(totals.maxLevel) && milestone <= Int(totals.level) {
                open.open.shadowMilestones.append(MilestoneRow(account: account, level: Int32(milestone), timeUS: currentTimeUS))
            }
            totals.maxLevel = totals.level
        }
        state.shadow[account] = totals
        state.dirtyShadow.append(account)
    }

    /// The shadow totals changed since the batch opened.
    func drainShadowTotals() -> [(account: UInt32, totals: ShadowTotals?)] {
        guard !state.dirtyShadow.isEmpty else { return [] }
        let ids = Set(state.dirtyShadow).sorted()
        state.dirtyShadow.removeAll(keepingCapacity: true)
        return ids.map { ($0, state.shadow[$0]) }
    }
}
