import Dispatch
import GRDB
import Synchronization

/// Commits batches on a background thread while the next batch is being built.
///
/// At most `depth` batches wait; `submit` blocks beyond that, so a slow disk slows
/// the intake instead of growing memory. The first write error stops the writer:
/// later batches are refused and `finish()` throws it, so nothing after a failed
/// batch is ever committed out of order.
public final class BatchWriter: Sendable {
    private let store: Store
    private let queue = DispatchQueue(label: "bothost.writer")
    private let slots: DispatchSemaphore
    private let failure = Mutex<(any Error)?>(nil)
    private let stats = Mutex<(batches: Int, seconds: Double)>((0, 0))

    public init(store: Store, depth: Int = 2) {
        self.store = store
        slots = DispatchSemaphore(value: depth)
    }

    /// Queues a batch for commit; blocks while `depth` batches are already queued.
    /// - Throws: the first error of an earlier batch.
    public func submit(_ batch: WriteBatch) throws {
        if let error = failure.withLock({ $0 }) { throw error }
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard failure.withLock({ $0 == nil }) else { return }
            let start = Clock.monotonicSeconds()
            do {
                try store.write(batch)
                let elapsed = Clock.monotonicSeconds() - start
                stats.withLock { $0.batches += 1; $0.seconds += elapsed }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
    }

    /// Waits for every queued batch. - Throws: the first write error.
    public func finish() throws {
        queue.sync {}
        if WriteProfile.enabled {
            let start = Clock.monotonicSeconds()
            try? store.queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            print("profile: \(WriteProfile.report()) final checkpoint \(Clock.monotonicSeconds() - start)")
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Batches committed and the time spent committing them.
    public var committed: (batches: Int, seconds: Double) { stats.withLock { $0 } }
}
