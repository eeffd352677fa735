/// The outbox as the dispatcher uses it, on either backend.
///
/// Each state change is its own small transaction, committed before the network call it
/// precedes or after the one it records. Posting stays exactly-once with any number of
/// dispatchers because every post is written under a deterministic record key stored
/// before the first attempt; a backend shared by several dispatchers also hands each due
/// message to one of them at a time (PostgreSQL: claims with `FOR UPDATE SKIP LOCKED`
/// and a lease), so they do not prepare or coalesce the same messages twice.
public protocol OutboxStore: Sendable {
    /// Pending messages due at `nowUS`, oldest first (on a shared backend: claimed for
    /// this dispatcher).
    func dueMessages(nowUS: Int64, limit: Int) throws -> [OutboxMessage]
    func nextDueUS() throws -> Int64?
    func finishOutbox(_ ids: [Int64], state: String, reason: String, nowUS: Int64) throws
    /// Stores the prepared request and record key on the lead and groups the members under
    /// it; false (nothing written) when a member is no longer this dispatcher's to prepare
    /// (on a shared backend: its claim ran out and another dispatcher took it).
    @discardableResult
    func prepareOutbox(lead: Int64, members: [Int64], rkey: String, request: String, nowUS: Int64) throws -> Bool
    func outboxRKeyTaken(_ rkey: String, except id: Int64) throws -> Bool
    /// pending → sending, the one transition before a network call. In the same
    /// transaction it re-checks what `checks` names against the account as it is now
    /// (consent, block, no-ping, active) and, on a shared backend, that this dispatcher
    /// still holds the message's lease (the fence).
    func beginAttempt(_ id: Int64, points: Int, nowUS: Int64, checks: SendChecks) throws -> AttemptStart
    /// Extends this dispatcher's lease on a message it is sending (a slow send); false when
    /// the lease is no longer its own. Nothing to do on a backend with one dispatcher.
    func renewLease(_ id: Int64, nowUS: Int64) throws -> Bool
    /// sending → pending for messages whose dispatcher died mid-send (SQLite: at start, one
    /// dispatcher; PostgreSQL: once their lease has run out). Their attempt stays counted,
    /// so the next one looks the post up first, and a DM is not sent again.
    func recoverSending(nowUS: Int64) throws -> Int
    /// Whether the host holds `did`'s record as created and not deleted (it holds a live
    /// grant for it); nil when it cannot tell. What a reply checks its parent against: the
    /// host's own view of the stream, whichever PDS keeps the record.
    func recordLive(did: String, collection: String, rkey: String) throws -> Bool?
    func refundAttempt(_ id: Int64) throws
    func markSent(_ id: Int64, uri: String, cid: String?, nowUS: Int64) throws
    func markRetry(_ id: Int64, error: String, nextAtUS: Int64, fail: Bool, nowUS: Int64) throws
    func deferOutbox(_ ids: [Int64], untilUS: Int64) throws
    func confirmationsSent(accountDID: String, accountSinceUS: Int64, allSinceUS: Int64) throws -> (account: Int, all: Int)
    func writeBudget(nowUS: Int64) throws -> WriteBudgetState
    func saveServerRateLimit(remaining: Int?, limit: Int?, reset: Int64?) throws
    func botState(_ key: String) throws -> String?
    func setBotState(_ key: String, _ value: String) throws
    func outboxCounts() throws -> [String: Int]
}


/// What ``OutboxStore/beginAttempt(_:points:nowUS:checks:)`` re-checks at the instant of
/// sending.
public struct SendChecks: Sendable, Equatable {
    /// An announcement about an account: it must be active and opted in (opted in or no
    /// ping); nothing is checked for other kinds.
    public var announcement: Bool
    /// Whether the prepared request mentions the account (nil: it does not matter, e.g. a
    /// confirmation): it must still be opted in with pings for a mention, and a switch
    /// either way makes the request stale.
    public var mentions: Bool?

    public init(announcement: Bool, mentions: Bool?) {
        self.announcement = announcement
        self.mentions = mentions
    }

    public static let none = SendChecks(announcement: false, mentions: nil)

    /// The decision on the account as it is now (consent and status names as stored).
    public func decide(consent: String, status: String) -> AttemptStart {
        guard announcement else { return .started }
        guard consent == Consent.optedIn.name || consent == Consent.noPing.name else { return .notAllowed("account is \(consent)") }
        if status != "active" { return .notAllowed("account is \(status)") }
        if let mentions, mentions != (consent == Consent.optedIn.name) { return .consentChanged }
        return .started
    }
}

/// Whether an attempt may begin.
public enum AttemptStart: Sendable, Equatable {
    /// The message is now `sending`: go ahead.
    case started
    /// It is not `pending` any more (cancelled, sent, or taken by another dispatcher).
    case notPending
    /// The account no longer allows it (the reason, e.g. `account is opted_out`).
    case notAllowed(String)
    /// The account switched between pings and no-ping: the prepared request is stale.
    case consentChanged
}

/// The moderators' outbox commands (`bothost outbox list|retry|cancel`), on either backend.
public protocol OutboxModeration {
    /// Messages oldest first; `states` empty means all; `did` also matches a handle.
    func outboxMessages(states: [String], did: String?, limit: Int?) throws -> [OutboxMessage]
    /// Puts failed (or named cancelled, skipped) messages back in the queue; returns how
    /// many. Attempts stay counted: a post is looked up under its key before it is written
    /// again, and a DM whose attempt may have been delivered is not sent again.
    func retryOutbox(ids: [Int64], allFailed: Bool, actor: String, nowUS: Int64) throws -> Int
    /// Cancels pending messages; returns how many.
    func cancelOutbox(ids: [Int64], actor: String, reason: String, nowUS: Int64) throws -> Int
}


/// What a shadow pack would have done (`bothost rules diff`), on either backend.
public protocol ShadowReading {
    func shadowDiff(limit: Int) throws -> ShadowDiff
}

