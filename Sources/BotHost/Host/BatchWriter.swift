import Dispatch
import Synchronization

/// Commits batches on a background thread while the next batch is being built.
///
/// At most `depth` batches wait; submitting beyond that waits (blocking for
/// ``submit(_:)``, suspending for ``submitAsync(_:)``), so a slow disk slows the
/// intake instead of growing memory. The first write error stops the writer: later
/// batches are refused and ``finish()`` throws it, so nothing after a failed batch is
/// ever committed out of order.
public final class BatchWriter: Sendable {
    private let store: any StateStore
    private let queue = DispatchQueue(label: "bothost.writer")
    private let depth: Int
    private struct State {
        var inFlight = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var failure: (any Error)?
        var batches = 0
        var seconds = 0.0
        var lastCommitLatencies: [Double] = []
    }
    private let state = Mutex(State())
    private let slots: DispatchSemaphore
    /// Called on the writer thread after each committed batch (metrics, latency).
    private let onCommit: (@Sendable (WriteBatch, Double) -> Void)?

    public init(store: any StateStore, depth: Int = 2, onCommit: (@Sendable (WriteBatch, Double) -> Void)? = nil) {
        self.store = store
        self.depth = depth
        self.onCommit = onCommit
        slots = DispatchSemaphore(value: depth)
    }

    /// Queues a batch for commit; blocks while `depth` batches are already queued.
    /// - Throws: the first error of an earlier batch.
    public func submit(_ batch: WriteBatch) throws {
        if let error = state.withLock({ $0.failure }) { throw error }
        slots.wait()
        state.withLock { $0.inFlight += 1 }
        enqueue(batch)
    }

    /// Queues a batch for commit, suspending (not blocking a thread) while `depth`
    /// batches are already queued.
    public func submitAsync(_ batch: WriteBatch) async throws {
        if let error = state.withLock({ $0.failure }) { throw error }
        while true {
            let acquired = slots.wait(timeout: .now()) == .success
            if acquired { break }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { s -> Bool in
                    if s.inFlight < depth { return true }
                    s.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        state.withLock { $0.inFlight += 1 }
        enqueue(batch)
    }

    private func enqueue(_ batch: WriteBatch) {
        queue.async { [self] in
            defer {
                let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                    s.inFlight -= 1
                    let w = s.waiters
                    s.waiters = []
                    return w
                }
                slots.signal()
                for waiter in waiters { waiter.resume() }
            }
            guard state.withLock({ $0.failure == nil }) else { return }
            let start = Clock.monotonicSeconds()
            do {
                try store.commit(batch)
                let elapsed = Clock.monotonicSeconds() - start
                state.withLock { $0.batches += 1; $0.seconds += elapsed }
                onCommit?(batch, elapsed)
            } catch {
                state.withLock { $0.failure = $0.failure ?? error }
            }
        }
    }

    /// Waits for every queued batch. - Throws: the first write error.
    public func finish() throws {
        queue.sync {}
        store.finishWriting()
        if let error = state.withLock({ $0.failure }) { throw error }
    }

    /// Waits for every queued batch without blocking a cooperative thread.
    public func finishAsync() async throws {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume() }
        }
        if let error = state.withLock({ $0.failure }) { throw error }
    }

    /// The first write error, if any.
    public var failure: (any Error)? { state.withLock { $0.failure } }

    /// Batches committed and the time spent committing them.
    public var committed: (batches: Int, seconds: Double) { state.withLock { ($0.batches, $0.seconds) } }
}
