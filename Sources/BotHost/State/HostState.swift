import XRPCClient

/// The host's tables: what the host knows of every account and record, in flat arrays
/// keyed by interned integers, so applying an event costs a few hash probes and no
/// allocation. A store fills it at start-up (``StateStore/load(into:)``); the batch
/// builder snapshots what changed.
///
/// - Note: Not thread-safe: the applying thread owns it.
public final class HostState {
    package var dids = InternTable(capacity: 1 << 14)
    package var collections = InternTable(capacity: 64)
    package var rkeys = InternTable(capacity: 64)
    package var accounts: [AccountState] = []
    package var handles: [String?] = []
    package var nonTIDRevs: [UInt32: [UInt8]] = [:]
    /// The operations after the first applied at an account's last rev (a commit with
    /// several operations); the first is `AccountState.lastOp`.
    package var moreOps: [UInt32: [UInt64]] = [:]
    package var statusNames: [String] = ["active"]
    package var grants = GrantTable()
    package var rules: [PluginContext.RuleInfo] = []
    package var counterNames: [String] = []
    /// Names interned since the last batch, for the store.
    package var newCounterNames: [(Int, String)] = []
    package var newCollections: [(Int, String)] = []
    package var newRules: [(Int, PluginContext.RuleInfo)] = []
    /// The batch being built (16-bit: grant change stamps), and the first account id
    /// interned in it.
    package var epoch: UInt32 = 1
    package var firstNewAccount = 0
    /// Accounts changed in the open batch.
    var dirtyAccounts: [UInt32] = []
    /// Rule limits (caps, cooldowns, once-per keys) and the ones changed in this batch.
    package var limits: [LimitKey: Int64] = [:]
    var dirtyLimits: [LimitKey] = []
    /// A shadow pack's totals per account, and the accounts whose totals changed.
    package var shadow: [UInt32: ShadowTotals] = [:]
    var dirtyShadow: [UInt32] = []
    /// Id the next ledger row gets.
    package var nextLedgerID: Int64 = 1
    /// Deleted accounts waiting for their retention period to pass.
    package var pendingPurges: [UInt32] = []
    /// The stream time at which the next pending purge falls due (`.min`: not known yet).
    var nextPurgeDueUS = Int64.min
    /// Accounts purged in the last batches: their store rows may still be on the way out.
    var recentPurges: [UInt32: UInt32] = [:]
    /// Account id of the bot's own DID, once known: its commits never reach plugins.
    public internal(set) var botAccount: UInt32?

    public init() {}

    /// Operations of one commit remembered per account (beyond the first).
    static let maxOpsPerRev = 1_024

    @inline(__always) package var epoch16: UInt16 { UInt16(truncatingIfNeeded: epoch) }

    /// The index of an account status name in `statusNames` (added when new; 254 once full).
    package func statusCode(_ name: String) -> UInt8 {
        if let index = statusNames.firstIndex(of: name) { return UInt8(index) }
        guard statusNames.count < 255 else { return 254 }
        statusNames.append(name)
        return UInt8(statusNames.count - 1)
    }

    /// Collections the host tells apart. Anyone can write records in any collection, and
    /// likes can name invented ones in their subjects: past this many, every further
    /// collection seen on the stream shares one id, ``otherCollectionName``. Plugins and
    /// packs name theirs at registration, before the stream can fill the table. Well
    /// below the shadow flag of ``GrantKey/collection`` (bit 15).
    package static let maxCollections = 4_096
    /// The collection every collection past ``maxCollections`` counts as.
    public static let otherCollectionName = "(other)"
    /// Collections seen past the cap (for the run summary and metrics).
    package var collectionsOverCap = 0

    /// Interns a collection NSID from the stream, queueing new ones for the store; past
    /// ``maxCollections`` the answer is the shared "other" id.
    @inline(__always)
    func internCollection(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let id = collections.find(bytes) { return id }
        guard collections.count < Self.maxCollections - 1 else {
            collectionsOverCap += 1
            return otherCollection()
        }
        return internNamedCollection(bytes)
    }

    /// Interns a collection a plugin names (bounded by the packs, not by the stream);
    /// never past the shadow flag.
    func internNamedCollection(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let id = collections.find(bytes) { return id }
        guard collections.count < 0x7FFF else { return otherCollection() }
        let (id, isNew) = collections.intern(bytes)
        if isNew { newCollections.append((id, collections.string(id))) }
        return id
    }

    /// The shared id of the collections past the cap.
    private func otherCollection() -> Int {
        if let id = collections.find(Self.otherCollectionName) { return id }
        let id = collections.intern(Self.otherCollectionName)
        newCollections.append((id, Self.otherCollectionName))
        return id
    }

    @inline(__always)
    func markDirty(_ id: UInt32) {
        if accounts[Int(id)].dirtyEpoch != epoch {
            accounts[Int(id)].dirtyEpoch = epoch
            dirtyAccounts.append(id)
        }
    }

    /// Marks the handle, status or consent of an account changed in this batch.
    @inline(__always)
    func markProfileDirty(_ id: UInt32) {
        accounts[Int(id)].profileEpoch = epoch
    }

    /// The text of an encoded record key.
    func rkeyString(_ rkey: UInt64) -> String {
        if rkey & RecordKey.nonTIDFlag != 0 { return rkeys.string(Int(rkey & ~RecordKey.nonTIDFlag)) }
        return TID(rawValue: rkey)?.description ?? String(rkey)
    }

    /// Encodes a record key: its TID value, or an interned id with the non-TID flag.
    @inline(__always)
    func recordKey(_ bytes: UnsafeRawBufferPointer, intern: Bool) -> UInt64? {
        if let tid = TID.parse(bytes) { return tid }
        if intern { return UInt64(rkeys.intern(bytes).id) | RecordKey.nonTIDFlag }
        return rkeys.find(bytes).map { UInt64($0) | RecordKey.nonTIDFlag }
    }

    /// The leveling spec's duplicate rule for commits (Updates and deletes): a rev lower
    /// than the account's last applied rev is a duplicate; the same rev is a duplicate
    /// only when the same (collection, rkey, operation) was applied at it (one commit
    /// carries several operations, each its own event with the commit's rev); a higher
    /// rev starts a new set. Revs compare as strings; TIDs compare as integers, which agrees.
    @inline(__always)
    package func acceptCommit(rev: JSONValue, op: UInt64, account: UInt32) -> Bool {
        let index = Int(account)
        let last = accounts[index].lastRev
        let order: Order
        var newText: [UInt8]?
        if let bytes = rev.unescapedBytes, let tid = TID.parse(bytes) {
            if last & RecordKey.nonTIDFlag == 0 {
                order = last == 0 ? .greater : (tid > last ? .greater : tid == last ? .same : .lower)
            } else {
                order = Self.compare(Array(TID(rawValue: tid)!.description.utf8), nonTIDRevs[account] ?? [])
            }
            if order == .greater {
                nonTIDRevs[account] = nil
                accounts[index].lastRev = tid
            }
        } else {
            // A rev that is not a canonical TID: compare as strings.
            let text = Array((rev.string ?? "").utf8)
            if last == 0 {
                order = .greater
            } else if last & RecordKey.nonTIDFlag != 0 {
                order = Self.compare(text, nonTIDRevs[account] ?? [])
            } else {
                order = Self.compare(text, Array(TID(rawValue: last)!.description.utf8))
            }
            newText = text
        }
        switch order {
        case .lower:
            return false
        case .same:
            if accounts[index].lastOp == op { return false }
            if let more = moreOps[account], more.contains(op) { return false }
            // Bounded: a commit carries at most a few hundred operations (applyWrites takes
            // 200); a hostile repository's longer one is applied without remembering the
            // rest, which keyed grants make harmless if it is sent again.
            if (moreOps[account]?.count ?? 0) < Self.maxOpsPerRev { moreOps[account, default: []].append(op) }
            return true
        case .greater:
            if let newText {
                nonTIDRevs[account] = newText
                accounts[index].lastRev = RecordKey.nonTIDFlag
            }
            accounts[index].lastOp = op
            if moreOps[account] != nil { moreOps[account] = nil }
            return true
        }
    }

    private enum Order { case lower, same, greater }

    private static func compare(_ a: [UInt8], _ b: [UInt8]) -> Order {
        a == b ? .same : (b.lexicographicallyPrecedes(a) ? .greater : .lower)
    }

    /// Account and identity events sent again (a rewind, another Jetstream instance after
    /// a failover stamping its own `time_us`): the relay's `seq`, increasing over the
    /// stream, decides when the event and the account both have one; otherwise `newer`
    /// (the event's time against the last applied one) does, as for events without `seq`.
    @inline(__always)
    package func acceptSeq(_ seq: Int64?, newer: Bool, account: UInt32) -> Bool {
        let last = accounts[Int(account)].lastSeq
        guard let seq, seq > 0 else { return newer }
        guard last > 0 ? seq > last : newer else { return false }
        accounts[Int(account)].lastSeq = seq
        markProfileDirty(account)
        return true
    }

    /// An identity event: its handle, unless an event applied earlier is newer (by relay
    /// seq, or by time without one). Returns false for such a stale event.
    package func applyIdentity(account: UInt32, handle: String?, seq: Int64?, timeUS: Int64) -> Bool {
        let index = Int(account)
        guard acceptSeq(seq, newer: timeUS >= accounts[index].handleTimeUS, account: account) else { return false }
        accounts[index].handleTimeUS = max(accounts[index].handleTimeUS, timeUS)
        if let handle, handle != handles[index] {
            handles[index] = handle
            markProfileDirty(account)
        }
        return true
    }

    /// An account event's status (`active`, or the event's status), unless an event
    /// applied earlier is newer. Returns the status before and after, or nil for a stale
    /// event; what a change means (cancels, opt-out, purge) is the caller's.
    package func applyAccountStatus(account: UInt32, status: String, seq: Int64?, timeUS: Int64) -> (before: UInt8, after: UInt8)? {
        let index = Int(account)
        guard acceptSeq(seq, newer: timeUS >= accounts[index].statusTimeUS, account: account) else { return nil }
        accounts[index].statusTimeUS = max(accounts[index].statusTimeUS, timeUS)
        markProfileDirty(account)
        let before = accounts[index].status
        let after = statusCode(status)
        accounts[index].status = after
        return (before, after)
    }
}
