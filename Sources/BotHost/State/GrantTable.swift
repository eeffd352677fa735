/// The key of a keyed grant: one record of one account's repository.
///
/// `rkey` is the record key as a TID integer, or, for keys that are not TIDs,
/// ``RecordKey/nonTIDFlag`` set over the key's id in the host's record-key intern table.
public struct GrantKey: Hashable, Sendable {
    public var account: UInt32
    public var collection: UInt16
    public var rkey: UInt64

    public init(account: UInt32, collection: UInt16, rkey: UInt64) {
        self.account = account
        self.collection = collection
        self.rkey = rkey
    }
}

/// Record-key encoding shared by the in-memory tables and the store.
public enum RecordKey {
    /// Set on `GrantKey.rkey` values that are interned non-TID keys rather than TIDs.
    public static let nonTIDFlag: UInt64 = 1 << 63
}

/// The live state of a keyed grant.
public struct Grant: Sendable, Equatable {
    /// XP the record currently grants (may be 0, e.g. a self-like).
    public var amount: Int32
    /// A plugin-defined class of the record (the leveling plugin stores a post's media class).
    public var tag: UInt8
    /// Rule that made the grant (an index in the host's rule table).
    public var rule: UInt16

    public init(amount: Int32, tag: UInt8, rule: UInt16) {
        self.amount = amount
        self.tag = tag
        self.rule = rule
    }
}

/// An open-addressing hash map from ``GrantKey`` to the live ``Grant``, with
/// tombstone-free deletion (backward shift) so it stays compact under churn.
///
/// Flat arrays of packed 24-byte slots at most 75 % full, no per-entry allocation: a
/// million live grants take ~32 MB.
package struct GrantTable {
    private struct Slot {
        var rkey: UInt64 = 0
        var account: UInt32 = 0
        var collection: UInt16 = 0
        var tag: UInt8 = 0
        var used: Bool = false
        var amount: Int32 = 0
        var rule: UInt16 = 0
        /// Low 16 bits of the batch epoch of the last change (fits the slot's padding).
        var epoch: UInt16 = 0

        /// A removed grant kept until its removal is committed (`rule` = ``GrantTable/deadRule``).
        @inline(__always) var dead: Bool { rule == GrantTable.deadRule }

        @inline(__always) var key: GrantKey { GrantKey(account: account, collection: collection, rkey: rkey) }
        @inline(__always) var grant: Grant { Grant(amount: amount, tag: tag, rule: rule) }

        @inline(__always) func matches(_ key: GrantKey) -> Bool {
            rkey == key.rkey && account == key.account && collection == key.collection
        }

        init() {}

        init(_ key: GrantKey, _ grant: Grant, epoch: UInt16 = 0) {
            rkey = key.rkey
            account = key.account
            collection = key.collection
            tag = grant.tag
            used = true
            amount = grant.amount
            rule = grant.rule
            self.epoch = epoch
        }
    }

    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1 << 16) {
        var size = 16
        while size * 3 < capacity * 4 { size <<= 1 }
        slots = [Slot](repeating: Slot(), count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func hash(_ key: GrantKey) -> Int {
        var h = key.rkey &* 0x9E37_79B9_7F4A_7C15
        h ^= (UInt64(key.account) << 16 | UInt64(key.collection)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 31
        return Int(truncatingIfNeeded: h)
    }

    /// The rule index that marks a removed grant (never a real rule's index).
    static let deadRule: UInt16 = .max

    /// What the table knows about a key.
    enum Probe {
        case live(Grant)
        /// Removed, and the removal is perhaps not committed yet: the store may still have it.
        case dead
        /// Not in memory (then the store alone knows, for keys older than the hot window).
        case absent
    }

    /// The live grant of `key`; nil when absent or removed.
    @inline(__always)
    func get(_ key: GrantKey) -> Grant? {
        if case .live(let grant) = probe(key) { return grant }
        return nil
    }

    @inline(__always)
    func probe(_ key: GrantKey) -> Probe {
        var i = Self.hash(key) & mask
        while slots[i].used {
            if slots[i].matches(key) { return slots[i].dead ? .dead : .live(slots[i].grant) }
            i = (i + 1) & mask
        }
        return .absent
    }

    /// Sets `key`'s grant, stamped with the batch `epoch` that changed it.
    @inline(__always)
    package mutating func set(_ key: GrantKey, _ grant: Grant, epoch: UInt16 = 0) {
        var i = Self.hash(key) & mask
        while slots[i].used {
            if slots[i].matches(key) {
                slots[i] = Slot(key, grant, epoch: epoch)
                return
            }
            i = (i + 1) & mask
        }
        slots[i] = Slot(key, grant, epoch: epoch)
        count += 1
        if count * 4 > slots.count * 3 { grow() }
    }

    /// Marks `key` removed in batch `epoch`; returns the grant it held. The marker stays
    /// until ``evict(tidBelow:epoch:minimumAge:)`` finds the removal committed, so the
    /// store is never asked about a key whose deletion is still on its way to it.
    @discardableResult
    mutating func kill(_ key: GrantKey, epoch: UInt16) -> Grant? {
        let old = get(key)
        set(key, Grant(amount: 0, tag: 0, rule: Self.deadRule), epoch: epoch)
        return old
    }

    /// Drops removal markers and the grants of TID keys older than `tidBelow` whose last
    /// change is at least `minimumAge` batches before `epoch` (and so committed): the
    /// store answers for them from now on. Returns how many entries were dropped.
    @discardableResult
    mutating func evict(tidBelow: UInt64, epoch: UInt16, minimumAge: UInt16,
                        where evictable: (_ account: UInt32, _ changed: UInt16) -> Bool = { _, _ in true }) -> Int {
        var keys: [GrantKey] = []
        for slot in slots where slot.used && epoch &- slot.epoch >= minimumAge {
            if (slot.dead || (slot.rkey & RecordKey.nonTIDFlag == 0 && slot.rkey < tidBelow)) && evictable(slot.account, slot.epoch) {
                keys.append(slot.key)
            }
        }
        for key in keys { remove(key) }
        return keys.count
    }

    /// Removes `key`; returns the grant it held.
    @discardableResult
    mutating func remove(_ key: GrantKey) -> Grant? {
        var i = Self.hash(key) & mask
        while slots[i].used {
            if slots[i].matches(key) { break }
            i = (i + 1) & mask
        }
        guard slots[i].used else { return nil }
        let removed = slots[i].grant
        // Backward-shift deletion: pull later members of the probe run into the hole.
        var hole = i
        var j = (i + 1) & mask
        while slots[j].used {
            let home = Self.hash(slots[j].key) & mask
            // Move j into the hole when its home is not cyclically within (hole, j].
            let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !inRange {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole].used = false
        count -= 1
        return removed
    }

    /// Removes every grant of the given accounts (one pass over the table; purges are rare).
    /// - Returns: the removed keys, by account.
    mutating func removeAll(accounts: Set<UInt32>) -> [UInt32: [GrantKey]] {
        var removed: [UInt32: [GrantKey]] = [:]
        var markers: [GrantKey] = []
        for slot in slots where slot.used && accounts.contains(slot.account) {
            if slot.dead { markers.append(slot.key) } else { removed[slot.account, default: []].append(slot.key) }
        }
        for key in markers { remove(key) }
        for keys in removed.values { for key in keys { remove(key) } }
        return removed
    }

    private mutating func grow() {
        let old = slots
        let size = old.count * 2
        slots = [Slot](repeating: Slot(), count: size)
        mask = size - 1
        count = 0
        for slot in old where slot.used { set(slot.key, slot.grant, epoch: slot.epoch) }
    }
}
