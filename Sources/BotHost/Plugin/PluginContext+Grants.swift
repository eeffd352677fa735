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
    /// The live grant of `key`: from memory, or from the store for a record key that left
    /// memory (``GrantResidency``). A grant read from the store is kept until the next
    /// eviction pass.
    @inline(__always)
    func loadGrant(_ key: GrantKey) -> Grant? {
        switch state.grants.probe(key) {
        case .live(let grant): return grant
        case .dead: return nil
        case .absent:
            guard residency.asksStore(key), state.recentPurges[key.account] == nil,
                  let grant = residency.coldGrants?.grant(key) else { return nil }
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
}
