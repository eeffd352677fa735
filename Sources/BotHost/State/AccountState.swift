/// The in-memory state of one account, mirrored to its `accounts` row at each commit.
package struct AccountState {
    package init() {}
    package var xp: Int64 = 0
    package var level: Int32 = 1
    /// Highest level ever reached: milestones up to it are recorded.
    package var maxLevel: Int32 = 1
    /// Last applied commit rev: a TID value, 0 for none, or `RecordKey.nonTIDFlag` with
    /// the rev text kept in `HostState.nonTIDRevs`.
    package var lastRev: UInt64 = 0
    /// The first operation applied at `lastRev` (``CommitOp`` hash; 0: none); the others
    /// of a multi-operation commit are in `HostState.moreOps`.
    package var lastOp: UInt64 = 0
    /// The relay `seq` of the last account or identity event applied (0: none seen).
    package var lastSeq: Int64 = 0
    package var handleTimeUS: Int64 = 0
    package var statusTimeUS: Int64 = 0
    /// Index into `HostState.statusNames` (0 = "active").
    package var status: UInt8 = 0
    package var consent: Consent = .none
    /// The batch that last marked the account dirty.
    var dirtyEpoch: UInt32 = 0
    /// The batch that last changed handle, status or consent (the row's cold columns).
    var profileEpoch: UInt32 = 0
    /// Id of the account's newest ledger row (0: none).
    package var lastLedgerID: Int64 = 0
    /// Set once a deleted account's rows were purged after the retention period.
    package var purged = false
}

/// One append-only ledger entry: a grant, a revocation or a re-grade of a keyed record.
public struct LedgerEntry: Sendable {
    /// What the entry did.
    public enum Kind: UInt8, Sendable {
        case grant = 0, revoke = 1, regrade = 2, adjust = 3
        /// The name stored and shown.
        public var name: String { ["grant", "revoke", "regrade", "adjust"][Int(rawValue)] }
    }
    public var account: UInt32
    public var collection: UInt16
    public var kind: Kind
    public var rule: UInt16
    public var rkey: UInt64
    public var amount: Int32
    public var timeUS: Int64
    /// Row id, assigned in event order when the entry is made.
    public var id: Int64 = 0
    /// The account's previous ledger row (0: none), assigned with the id.
    public var previousID: Int64 = 0
}
