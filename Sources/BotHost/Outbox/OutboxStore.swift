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
    func prepareOutbox(lead: Int64, members: [Int64], rkey: String, request: String, nowUS: Int64) throws
    func outboxRKeyTaken(_ rkey: String, except id: Int64) throws -> Bool
    func beginAttempt(_ id: Int64, points: Int, nowUS: Int64) throws
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


/// The moderators' outbox commands (`bothost outbox list|retry|cancel`), on either backend.
public protocol OutboxModeration {
    /// Messages oldest first; `states` empty means all; `did` also matches a handle.
    func outboxMessages(states: [String], did: String?, limit: Int?) throws -> [OutboxMessage]
    /// Puts failed (or named cancelled, skipped) messages back in the queue; returns how many.
    func retryOutbox(ids: [Int64], allFailed: Bool, actor: String, nowUS: Int64) throws -> Int
    /// Cancels pending messages; returns how many.
    func cancelOutbox(ids: [Int64], actor: String, reason: String, nowUS: Int64) throws -> Int
}


/// What a shadow pack would have done (`bothost rules diff`), on either backend.
public protocol ShadowReading {
    func shadowDiff(limit: Int) throws -> ShadowDiff
}

