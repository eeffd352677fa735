import BotHost
import GRDB

// The SQLite store under the store contracts of `BotHost` (StateStore.swift, OutboxStore.swift).

extension Store: StateStore {
    public var location: String { path }
    public func commit(_ batch: WriteBatch) throws { try write(batch) }
    public func storedCursor() throws -> Int64? { try cursor() }
    public func describe(_ error: any Error) -> StoreError { StoreError.describing(error, path: path) }

    /// With `BOTHOST_PROFILE_WRITES` set: the writer's time per section and a final checkpoint.
    public func finishWriting() {
        guard WriteProfile.enabled else { return }
        let start = Clock.monotonicSeconds()
        try? queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        print("profile: \(WriteProfile.report()) final checkpoint \(Clock.monotonicSeconds() - start)")
    }
}

extension Store: AccountReading {}

extension Store: ModerationReading {}

extension Store: StateReading, ModerationWriting {
    public func readCursor() throws -> Int64? { try cursor() }
}

extension Store: OutboxStore {}

extension Store: OutboxModeration {}

extension Store: ShadowReading {}
