/// The kinds of Jetstream event.
public enum EventKind: UInt8, Sendable {
    /// A repository write: a record created, updated or deleted.
    case commit
    /// A handle or DID document change.
    case identity
    /// An account status change (active, takendown, deleted…).
    case account
}

/// The operation of a commit event.
public enum CommitOperation: UInt8, Sendable {
    case create, update, delete
}

/// One decoded Jetstream event, borrowed from the tape it was decoded on.
///
/// Only the envelope is read eagerly (what the host needs to route and order the
/// event); the record stays on the tape and plugins read just the fields they use
/// through ``record``.
///
/// - Note: Valid only during the call that receives it: it points into the
///   decoder's buffers, which the next event overwrites.
public struct Event {
    /// The event kind.
    public let kind: EventKind
    /// The repository DID, as the raw JSON string value.
    public let did: JSONValue
    /// Jetstream's time of the event, in microseconds since the epoch.
    public let timeUS: Int64
    /// Commit fields; `nil` for identity and account events.
    public let commit: Commit?
    /// The `identity` or `account` object of those kinds.
    public let body: JSONValue

    /// The fields of a commit event.
    public struct Commit {
        /// Create, update or delete.
        public let operation: CommitOperation
        /// The collection NSID.
        public let collection: JSONValue
        /// The record key.
        public let rkey: JSONValue
        /// The repository revision (a TID) of the commit.
        public let rev: JSONValue
        /// The record (missing for deletes).
        public let record: JSONValue
        /// The record's CID (missing for deletes).
        public let cid: JSONValue
    }

    /// The record of a create or update; a missing value otherwise.
    @inlinable public var record: JSONValue {
        commit?.record ?? did.missing
    }
}

/// The key of one operation of a repository commit, for the duplicate rule: one commit
/// (one `rev`) carries several operations, each sent as its own event.
///
/// FNV-1a of the collection's NSID (computed once per collection), continued with the
/// record key (a TID's 64-bit value, or the key's bytes) and the operation; never 0,
/// which means "none". It is stored with the account, so it depends on no interned id;
/// a collision only makes one of an account's own operations look applied twice.
public enum CommitOp {
    @inline(__always)
    public static func key(collectionHash: UInt64, tid: UInt64?, rkeyBytes: UnsafeRawBufferPointer?,
                           operation: CommitOperation) -> UInt64 {
        var h = (collectionHash ^ 0x1F) &* FNV1a.prime
        if let tid {
            h = (h ^ tid) &* FNV1a.prime
            h = (h ^ (tid >> 32)) &* FNV1a.prime
        } else if let rkeyBytes {
            h = FNV1a.hash(rkeyBytes, seed: h)
        }
        h = (h ^ 0x1F) &* FNV1a.prime
        h = (h ^ UInt64(operation.rawValue)) &* FNV1a.prime
        return h == 0 ? 1 : h
    }
}
