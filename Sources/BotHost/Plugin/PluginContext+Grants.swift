/// Reads state.grants that left memory (records older than the hot window) from the store.
///
/// Called on the applying thread only. A read error is kept, not thrown: the host checks
/// ``failure`` before each commit and stops before anything decided without the grant
/// is committed.
public protocol ColdGrantSource: AnyObject {
    /// The stored grant of `key`, or nil.
    func grant(_ key: GrantKey) -> Grant?
    /// Lookups made, for the run summary.
    var lookups: Int { get }
    /// The first read error.
    var failure: (any Error)? { get }
    /// The grant of `key` as it stood before `timeUS` (from the store's ledger), for a
    /// partitioned host re-applying events older than its stored state; nil when the
    /// store cannot tell (then memory answers).
    func grant(_ key: GrantKey, before timeUS: Int64) -> Grant??
}

extension ColdGrantSource {
    public func grant(_ key: GrantKey, before timeUS: Int64) -> Grant?? { nil }
}

extension PluginContext {
    /// How many batches a change needs before it is surely committed: the writer holds
    /// at most two batches in flight, one more for margin.
    static let commitLag: UInt16 = 4


    /// The live grant of `key`: from memory, or from the store for a record key older
    /// than the hot window (its grant may have been evicted). A grant read from the
    /// store is kept until the next eviction pass.
    @inline(__always)
    func loadGrant(_ key: GrantKey) -> Grant? {
        switch state.grants.probe(key) {
        case .live(let grant): return grant
        case .dead: return nil
        case .absent:
            // Another partition's state.grants leave memory only when keepForeignGrants is off.
            // A record of another partition that predates everything this host has applied
            // in this run (a live host's warm-up, a replay's capture) is asked of its owner.
            let foreign = isForeign(key.account)
            let evicted = key.rkey < coldBelowTID && (!foreign || !keepForeignGrants)
            let predates = foreign && key.rkey & RecordKey.nonTIDFlag == 0 && key.rkey < foreignHistoryStartTID
            guard evicted || predates, let reader = coldGrants, state.recentPurges[key.account] == nil else { return nil }
            guard let grant = reader.grant(key) else { return nil }
            state.grants.set(key, grant, epoch: state.epoch16 &- 1_000)
            return grant
        }
    }

    /// Sets a grant in this batch.
    @inline(__always)
    func storeGrant(_ key: GrantKey, _ grant: Grant) {
        state.grants.set(key, grant, epoch: state.epoch16)
    }

    /// Removes a grant in this batch; returns what it held.
    @inline(__always)
    func removeGrant(_ key: GrantKey) -> Grant? {
        guard let old = loadGrant(key) else { return nil }
        state.grants.kill(key, epoch: state.epoch16)
        return old
    }

    /// Every few batches: state.grants of record keys older than the hot window, and removal
    /// markers, whose last change is committed leave memory. Record keys are TIDs, which
    /// carry their creation time, so "older than the window" needs no extra state, and
    /// memory holds about one window's worth of records however long the run.
    func evictColdGrants() {
        guard coldGrants != nil, hotGrantHorizonUS > 0, state.epoch &- lastEvictionEpoch >= 2 else { return }
        lastEvictionEpoch = state.epoch
        if cursorUS > hotGrantHorizonUS {
            let floor = UInt64(cursorUS - hotGrantHorizonUS) << 10
            if floor > coldBelowTID { coldBelowTID = floor }
        }
        if foreignAccounts.isEmpty {
            state.grants.evict(tidBelow: coldBelowTID, epoch: state.epoch16, minimumAge: Self.commitLag)
        } else if keepForeignGrants {
            // A partitioned replay keeps other partitions' grants: the store has them only
            // as far as their owner has got, which may be behind this host.
            state.grants.evict(tidBelow: coldBelowTID, epoch: state.epoch16, minimumAge: Self.commitLag) { account, _ in !self.isForeign(account) }
        } else {
            // A live partition lets another partition's grant (or removal marker) go only a
            // hot window after its last change: its owner has committed that change by then
            // as long as partitions lag each other by less than the window.
            let changedBefore = cursorUS - hotGrantHorizonUS
            state.grants.evict(tidBelow: coldBelowTID, epoch: state.epoch16, minimumAge: Self.commitLag) { account, changed in
                !self.isForeign(account) || self.epochTimes[Int(changed)] <= changedBefore
            }
        }
        state.recentPurges = state.recentPurges.filter { state.epoch &- $0.value < UInt32(Self.commitLag) }
    }

    /// Whether `account` belongs to another partition (its rows are that host's to write).
    @inline(__always)
    public func isForeign(_ account: UInt32) -> Bool {
        let word = Int(account >> 6)
        return word < foreignAccounts.count && foreignAccounts[word] & (1 << UInt64(account & 63)) != 0
    }

    /// Marks `account` as another partition's.
    public func markForeign(_ account: UInt32) {
        if epochTimes.isEmpty { epochTimes = Array(repeating: 0, count: 1 << 16) }
        let word = Int(account >> 6)
        if word >= foreignAccounts.count { foreignAccounts.append(contentsOf: repeatElement(0, count: word - foreignAccounts.count + 1)) }
        foreignAccounts[word] |= 1 << UInt64(account & 63)
    }

    /// The first error reading an evicted grant: checked before each batch is committed.
    public var coldGrantFailure: (any Error)? { coldGrants?.failure }

    /// Cold-grant lookups made so far (store reads for records older than the hot window).
    public var coldGrantLookups: Int { coldGrants?.lookups ?? 0 }
}
