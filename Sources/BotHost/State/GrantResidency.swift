/// Which grants live in memory and who answers for the rest: the hot-window and
/// partition policy, apart from the tables it governs (``HostState``) and from the plugin
/// API (``PluginContext``).
///
/// Memory holds about one hot window of records however long the run: a record key is a
/// TID, which carries its creation time, so "older than the window" needs no extra state.
/// On a partitioned host every host applies every event, but another partition's
/// records are its owner's to tell once they have left memory.
///
/// - Note: Not thread-safe: the applying thread owns it.
public final class GrantResidency {
    /// How many batches a change needs before it is surely committed: the writer holds
    /// at most two batches in flight, one more for margin.
    static let commitLag: UInt16 = 4

    /// Grants of records older than this TID value may be in the store only (evicted).
    package var coldBelowTID: UInt64 = 0
    /// Reads evicted grants; nil keeps every grant in memory (no store, or tests).
    public var coldGrants: (any ColdGrantSource)?
    /// The accounts this host owns when several hosts share a database (nil: all).
    /// Every host still applies every event, so what one account's rules read of another
    /// (a reposted post's class, the rankings) is exact; only the owner writes the rows.
    public var partition: Partition?
    /// Bit per account id: set for accounts of other partitions.
    var foreignAccounts: [UInt64] = []
    /// Whether other partitions' grants stay in memory (a replay: the store has them only
    /// as far as their owner has got, which may be behind) or leave it after the hot
    /// window like this host's and are read back from their owner's rows (a live host:
    /// every partition follows the stream within seconds).
    public var keepForeignGrants = true
    /// The TID of the first event this host applied in this run (partitioned hosts): other
    /// partitions' records older than it were never in memory here.
    var foreignHistoryStartTID: UInt64 = 0
    /// The time of the first event this partitioned host applied in this run (0: none yet).
    public var historyStartUS: Int64 { Int64(foreignHistoryStartTID >> 10) }
    /// The stored cursor a partitioned host started from (0: none).
    public var catchUpUntilUS: Int64 = 0
    /// The stream time at which each batch (by 16-bit epoch) closed, for partitioned hosts:
    /// another partition's grant leaves memory only a hot window after its last change.
    var epochTimes: [Int64] = []
    /// Record keys older than this much stream time leave memory once committed
    /// (`store.hot_grants_minutes`; 0 keeps them all).
    public var hotGrantHorizonUS: Int64 = 30 * 60 * 1_000_000
    var lastEvictionEpoch: UInt32 = 0

    public init() {}

    /// Whether a grant absent from memory is to be asked of the store: its record is
    /// older than the hot window (evicted), or another partition's from before this run.
    @inline(__always)
    func asksStore(_ key: GrantKey) -> Bool {
        guard coldGrants != nil else { return false }
        let foreign = isForeign(key.account)
        let evicted = key.rkey < coldBelowTID && (!foreign || !keepForeignGrants)
        let predates = foreign && key.rkey & RecordKey.nonTIDFlag == 0 && key.rkey < foreignHistoryStartTID
        return evicted || predates
    }

    /// Notes the first event time of a partitioned run.
    @inline(__always)
    func noteEvent(timeUS: Int64) {
        if foreignHistoryStartTID == 0, !foreignAccounts.isEmpty, timeUS > 0 { foreignHistoryStartTID = UInt64(timeUS) << 10 }
    }

    /// Notes when a batch closed (partitioned hosts).
    @inline(__always)
    func batchClosed(epoch16: UInt16, cursorUS: Int64) {
        if !foreignAccounts.isEmpty { epochTimes[Int(epoch16)] = cursorUS }
    }

    /// Every few batches: grants of record keys older than the hot window, and removal
    /// markers, whose last change is committed leave memory.
    func evict(_ state: HostState, cursorUS: Int64) {
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

    /// Whether `did` is another partition's.
    @inline(__always)
    func isOthers(did: UnsafeRawBufferPointer) -> Bool {
        guard let partition, partition.isPartial else { return false }
        return !partition.owns(did: did)
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
