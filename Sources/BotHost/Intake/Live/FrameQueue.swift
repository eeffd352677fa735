import Synchronization

/// A bounded hand-off of frames from the connection to the processing task.
///
/// `push` suspends while `capacity` frames, or `maxBytes` bytes of them, wait (one frame
/// is always let in, so a frame larger than the budget cannot wedge the queue), which stops reading the socket and
/// lets TCP push back on the server instead of growing memory; `next` hands out every
/// waiting frame at once, or an empty array after `timeout` so the consumer can close
/// batches by time.
final class FrameQueue<Frame: Sendable>: Sendable {
    private struct State {
        var frames: [Frame] = []
        var bytes = 0
        var consumer: CheckedContinuation<Void, Never>?
        var producers: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }
    private let state = Mutex(State())
    let capacity: Int
    /// The byte budget of the waiting frames, and how a frame's bytes are counted.
    let maxBytes: Int
    private let size: @Sendable (Frame) -> Int
    /// Times a push waited for the byte budget (not the count).
    private let byteWaits = Mutex(0)

    init(capacity: Int, maxBytes: Int = .max, size: @escaping @Sendable (Frame) -> Int = { _ in 0 }) {
        self.capacity = max(1, capacity)
        self.maxBytes = max(1, maxBytes)
        self.size = size
    }

    /// Bytes of the waiting frames (a gauge).
    var bytes: Int { state.withLock { $0.bytes } }
    /// Pushes that waited for the byte budget.
    var byteBudgetWaits: Int { byteWaits.withLock { $0 } }

    /// Number of frames waiting (a gauge).
    var depth: Int { state.withLock { $0.frames.count } }

    /// Adds a frame; suspends while the queue is full. Returns false once closed.
    @discardableResult
    func push(_ frame: Frame) async -> Bool {
        let frameBytes = size(frame)
        let (accepted, consumer, mustWait) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?, Bool) in
            guard !s.closed else { return (false, nil, false) }
            s.frames.append(frame)
            s.bytes += frameBytes
            let consumer = s.consumer
            s.consumer = nil
            return (true, consumer, s.frames.count >= capacity || s.bytes >= maxBytes)
        }
        consumer?.resume()
        guard accepted else { return false }
        if mustWait {
            if frameBytes > 0, depth < capacity { byteWaits.withLock { $0 += 1 } }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { s -> Bool in
                    if s.closed || (s.frames.count < capacity && s.bytes < maxBytes) { return true }
                    s.producers.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        return true
    }

    /// Every waiting frame, or an empty array when none arrived within `timeout` seconds
    /// (or the queue is closed and drained).
    func next(timeout: Double) async -> [Frame] {
        if let frames = take() { return frames }
        let waiter = Task {
            try? await Task.sleep(for: .seconds(timeout))
            wakeConsumer()
        }
        await waitForFrames()
        waiter.cancel()
        return take() ?? []
    }

    /// Every waiting frame, or an empty array once ``wakeConsumer()`` is called: for a
    /// consumer woken by a ticker of its own, so that a wait costs no timer task (a task
    /// per wait was a visible share of a live host's CPU when it kept up with the stream
    /// and so waited for nearly every frame).
    func nextOrWake() async -> [Frame] {
        if let frames = take() { return frames }
        await waitForFrames()
        return take() ?? []
    }

    private func waitForFrames() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { s -> Bool in
                if !s.frames.isEmpty || s.closed { return true }
                s.consumer = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func take() -> [Frame]? {
        let (frames, producers) = state.withLock { s -> ([Frame], [CheckedContinuation<Void, Never>]) in
            guard !s.frames.isEmpty else { return ([], []) }
            let frames = s.frames
            s.frames = []
            s.bytes = 0
            let producers = s.producers
            s.producers = []
            return (frames, producers)
        }
        for producer in producers { producer.resume() }
        return frames.isEmpty ? nil : frames
    }

    /// Wakes a waiting consumer (timeout, shutdown).
    func wakeConsumer() {
        let consumer = state.withLock { s -> CheckedContinuation<Void, Never>? in
            let c = s.consumer
            s.consumer = nil
            return c
        }
        consumer?.resume()
    }

    /// Refuses further frames and wakes everyone; waiting frames can still be taken.
    func close() {
        let (consumer, producers) = state.withLock { s -> (CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) in
            s.closed = true
            let c = s.consumer
            s.consumer = nil
            let p = s.producers
            s.producers = []
            return (c, p)
        }
        consumer?.resume()
        for producer in producers { producer.resume() }
    }

    var isClosed: Bool { state.withLock { $0.closed } }
}
