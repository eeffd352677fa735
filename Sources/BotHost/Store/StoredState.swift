/// What a store hands back at start-up: the state its last committed batch left, already
/// in host ids, for ``PluginContext/restore(_:)`` to take in once.
///
/// Each store only reads its rows into this value; how the host's tables are rebuilt
/// from it (interning order, purges still due, the rank tracker) is written once, so the
/// two stores cannot drift apart on it.
public struct StoredState {
    /// What the host needs the store to decide what to read.
    public struct Request: Sendable {
        /// Grants of records older than this much before the cursor stay in the store.
        public var hotGrantHorizonUS: Int64
        /// The rank tracker's window (name, seconds), nil when rankings are off.
        public var rankWindow: (name: String, seconds: Int64)?
        /// Whether other partitions' grants stay in memory (a replay).
        public var keepForeignGrants: Bool
    }

    /// One account: host id = its index in ``accounts``.
    public struct Account {
        package var did: String
        package var handle: String?
        /// The status name (interned by the restore).
        package var status: String
        package var state: AccountState
        /// The last rev's text when it is not a TID.
        package var nonTIDRev: String?
        package var moreOps: [UInt64]

        package init(did: String, handle: String?, status: String, state: AccountState, nonTIDRev: String? = nil, moreOps: [UInt64] = []) {
            self.did = did
            self.handle = handle
            self.status = status
            self.state = state
            self.nonTIDRev = nonTIDRev
            self.moreOps = moreOps
        }
    }

    /// A live grant; `rkeyText` is set (and `rkey` ignored) for a record key that is not a TID.
    public struct StoredGrant {
        package var account: UInt32
        package var collection: UInt16
        package var rkey: UInt64
        package var rkeyText: String?
        package var grant: Grant

        package init(account: UInt32, collection: UInt16, rkey: UInt64, rkeyText: String?, grant: Grant) {
            self.account = account
            self.collection = collection
            self.rkey = rkey
            self.rkeyText = rkeyText
            self.grant = grant
        }
    }

    /// The rank tracker's state inside the watched window.
    public struct Ranks {
        package var hourly: [(hour: Int64, account: UInt32, xp: Int64)] = []
        package var members: [(threshold: Int, account: UInt32, enteredUS: Int64, outSinceUS: Int64?)] = []
        /// Off the boards by their own choice (`no rank`).
        package var unranked: [UInt32] = []
        /// Off the boards by a moderator.
        package var excluded: [UInt32] = []
        package init() {}
    }

    /// The hosts sharing the database, when this store is one partition of several.
    package var partition: Partition?
    /// Dictionaries, index = host id (a gap in the store's ids is a placeholder name).
    package var collections: [String] = []
    package var rules: [PluginContext.RuleInfo] = []
    package var counterNames: [String] = []
    package var accounts: [Account] = []
    /// Accounts of other partitions that the rankings need (DID and status only), given
    /// the host ids after ``accounts`` in this order.
    package var otherPartitions: [(did: String, status: String)] = []
    package var grants: [StoredGrant] = []
    package var limits: [(LimitKey, Int64)] = []
    package var shadow: [(UInt32, ShadowTotals)] = []
    package var nextLedgerID: Int64 = 1
    package var cursorUS: Int64 = 0
    /// Grants of records below this TID value were left in the store.
    package var coldBelowTID: UInt64 = 0
    /// The cursor a partitioned host resumes from (0: not partitioned).
    package var catchUpUntilUS: Int64 = 0
    package var ranks: Ranks?
    /// The end of the last season archived by this host (nil: none yet).
    package var seasonsThroughUS: Int64?

    package init() {}

    /// The TID floor of the grants a store reads back: a hot window before the cursor.
    package static func coldFloor(cursorUS: Int64, horizonUS: Int64) -> UInt64 {
        guard horizonUS > 0, cursorUS > horizonUS else { return 0 }
        return UInt64(cursorUS - horizonUS) << 10
    }

    /// The first hour bucket of the rank window that ends at `cursorUS`.
    package static func firstRankHour(cursorUS: Int64, windowSeconds: Int64) -> Int64 {
        RankTracker.hourOf(cursorUS) - windowSeconds + 3_600
    }

    /// Parses a stored `more_ops` column (comma-separated signed keys).
    package static func parseOps(_ text: String?) -> [UInt64] {
        guard let text, !text.isEmpty else { return [] }
        return text.split(separator: ",").compactMap { Int64($0).map { UInt64(bitPattern: $0) } }
    }
}

extension PluginContext {
    /// What this context needs its store to read.
    public var storedStateRequest: StoredState.Request {
        StoredState.Request(hotGrantHorizonUS: residency.hotGrantHorizonUS,
                            rankWindow: rankTracker.map { ($0.options.window, $0.options.windowSeconds) },
                            keepForeignGrants: residency.keepForeignGrants)
    }

    /// Takes in a store's state: the one place a fresh context is rebuilt from storage.
    /// Call once, on a fresh context.
    public func restore(_ stored: StoredState) {
        if let owned = stored.partition { residency.partition = owned }
        seasonsThroughUS = stored.seasonsThroughUS
        let state = self.state
        // A database filled by an older host with invented collections keeps only the ids
        // below the shadow flag; grants of the others are dropped with them.
        for name in stored.collections.prefix(0x7FFF) { _ = state.collections.intern(name) }
        state.rules = stored.rules
        state.counterNames = stored.counterNames
        state.accounts.reserveCapacity(stored.accounts.count + stored.otherPartitions.count)
        for account in stored.accounts {
            let id = state.dids.intern(account.did)
            precondition(id == state.accounts.count, "a store returned a DID twice")
            var row = account.state
            row.status = state.statusCode(account.status)
            if let text = account.nonTIDRev {
                row.lastRev = RecordKey.nonTIDFlag
                state.nonTIDRevs[UInt32(id)] = Array(text.utf8)
            }
            if !account.moreOps.isEmpty { state.moreOps[UInt32(id)] = account.moreOps }
            if account.status == "deleted" && !row.purged { state.pendingPurges.append(UInt32(id)) }
            state.accounts.append(row)
            state.handles.append(account.handle)
        }
        for other in stored.otherPartitions {
            let (index, isNew) = internAccount(other.did)
            // Its status decides whether it may rank; the rest is its owner's.
            if isNew { state.accounts[index].status = state.statusCode(other.status) }
        }
        residency.coldBelowTID = stored.coldBelowTID
        for stored in stored.grants where Int(stored.collection & 0x7FFF) < state.collections.count {
            let rkey = stored.rkeyText.map { UInt64(state.rkeys.intern($0)) | RecordKey.nonTIDFlag } ?? stored.rkey
            state.grants.set(GrantKey(account: stored.account, collection: stored.collection, rkey: rkey), stored.grant,
                             epoch: state.epoch16 &- 1_000)
        }
        for (key, value) in stored.limits { state.limits[key] = value }
        for (account, totals) in stored.shadow { state.shadow[account] = totals }
        state.nextLedgerID = stored.nextLedgerID
        cursorUS = stored.cursorUS
        residency.catchUpUntilUS = stored.catchUpUntilUS
        if let tracker = rankTracker, let ranks = stored.ranks {
            for row in ranks.hourly { tracker.add(hour: row.hour, account: row.account, amount: row.xp) }
            for row in ranks.members where tracker.members[row.threshold] != nil {
                tracker.members[row.threshold]![row.account] = (row.enteredUS, row.outSinceUS)
            }
            for account in ranks.unranked { tracker.setRanked(account, false) }
            for account in ranks.excluded { tracker.setExcluded(account, true) }
            tracker.lastCheckUS = stored.cursorUS
        }
        state.firstNewAccount = state.accounts.count
        state.newCollections.removeAll()
        state.newRules.removeAll()
        state.newCounterNames.removeAll()
    }
}
