import CoreMetrics
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import WSClient

/// `bothost run`: follows Jetstream and applies every event through the same
/// ``HostEngine`` path as a replay, committing batches that close at a size or a time
/// limit. A graceful shutdown (SIGINT/SIGTERM through swift-service-lifecycle) stops
/// the connection, applies what was received, commits the batch with its cursor and
/// returns.
///
/// - Note: The engine is confined to ``run()``: one task applies every event.
public final class LiveHost: Service, @unchecked Sendable {
    /// Options of a live run.
    public struct Options: Sendable {
        /// Events per batch at most.
        public var batchSize = 5_000
        /// A non-empty batch is committed after this many seconds.
        public var maxBatchDelay = 0.02
        /// While the host is behind (at least `catchUpDepth` frames wait after a pass), a
        /// batch grows to this many events (a replay's batch) or `catchUpDelay` seconds:
        /// small batches cost a catch-up most of its time in SQLite re-writing the same
        /// accounts' rows, and latency is the queue's then, not the batch's.
        public var catchUpBatchSize = 100_000
        public var catchUpDelay = 1.0
        /// Frames waiting that mark the host as behind; it is caught up again below an
        /// eighth of that.
        public var catchUpDepth = 1_024
        /// Exit (successfully) after this many seconds without an event while connected.
        public var exitIdle: Double?
        /// A first event newer than the cursor asked for by more than this is a gap.
        public var gapThresholdUS: Int64 = 30_000_000
        /// Seconds between status log lines.
        public var statusInterval = 10.0
        public init() {}
    }

    private let engine: HostEngine
    private let store: any StateStore
    private let connectorConfiguration: JetstreamConnector.Configuration
    private let options: Options
    private let logger: Logger
    public let progress = IngestProgress()
    /// Event→commit latencies (µs), in fixed memory.
    private let commitLatencies = LatencyRecorder()
    /// The connector, once running (for `updateCollections`).
    private let connector = Mutex<JetstreamConnector?>(nil)

    public init(engine: HostEngine, store: any StateStore, connector: JetstreamConnector.Configuration, options: Options, logger: Logger) {
        self.engine = engine
        self.store = store
        self.connectorConfiguration = connector
        self.options = options
        self.logger = logger
    }

    /// What a run did.
    public struct Summary: Sendable {
        public var events = 0
        public var malformed = 0
        public var duplicates = 0
        public var batches = 0
        public var reconnects = 0
        public var cursorUS: Int64 = 0
        public var exitReason = ""
        /// Seconds from the first to the last applied event (the ingest window).
        public var activeSeconds = 0.0
        /// Event→commit latency percentiles over the committed batches (seconds).
        public var latencyP50 = 0.0
        public var latencyP99 = 0.0
    }

    /// Work queued for the processing task (plugin swaps), run between two frames.
    private let pending = Mutex<[@Sendable (HostEngine) -> Void]>([])

    /// Runs `work` on the processing task between two frames: the only safe place to
    /// touch the engine while the host runs (e.g. to swap in a reloaded rule pack).
    public func perform(_ work: @escaping @Sendable (HostEngine) -> Void) {
        pending.withLock { $0.append(work) }
    }

    /// Changes the wanted collections of the live subscription (rule pack reloads).
    public func updateCollections(_ collections: [String]) {
        connector.withLock { $0 }?.updateCollections(collections)
    }

    /// Event→commit latencies (µs) of the committed batches, for benchmarks.
    public var latencies: LatencyHistogram { commitLatencies.snapshot }

    public func run() async throws {
        _ = try await runUntilDone()
    }

    /// Runs until idle exit, graceful shutdown or cancellation; returns what happened.
    public func runUntilDone() async throws -> Summary {
        let queue = LiveFrame.queue()
        let context = engine.context
        let storedCursor = context.cursorUS > 0 ? context.cursorUS : nil
        progress.seed(maxTimeUS: context.cursorUS)
        let connector = JetstreamConnector(configuration: connectorConfiguration, queue: queue, progress: progress, logger: logger)
        self.connector.withLock { $0 = connector }
        let latencies = commitLatencies
        let writer = BatchWriter(store: store) { batch, seconds in
            LiveMetrics.commitSeconds.recordSeconds(seconds)
            LiveMetrics.batchSize.record(batch.events)
            // Event→commit latency: from the oldest frame of the batch to the commit.
            if batch.oldestReceivedAt.isFinite {
                let latency = Clock.monotonicSeconds() - batch.oldestReceivedAt
                latencies.record(Int64(latency * 1_000_000))
            }
        }
        let shutdown = Mutex(false)
        var summary = Summary()
        let totalsBefore = context.totals
        let processor = FrameProcessor(engine: engine, progress: progress, logger: logger, gapThresholdUS: options.gapThresholdUS)

        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await connector.run(storedCursor: storedCursor) }
                // Wakes the loop below while no frame comes, so batches close by time.
                let tick = min(options.maxBatchDelay, 0.25)
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(tick))
                        queue.wakeConsumer()
                    }
                }
                var batchOpened = Clock.monotonicSeconds()
                var lastStatus = Clock.monotonicSeconds()
                var oldestReceive = Double.infinity
                var boundary = BatchBoundary(store: store)
                var behind = false
                while true {
                    let frames = await queue.nextOrWake()
                    for work in pending.withLock({ let queued = $0; $0.removeAll(); return queued }) { work(engine) }
                    for frame in frames {
                        processor.apply(frame)
                        oldestReceive = min(oldestReceive, frame.receivedAt)
                    }
                    processor.flushProgress()
                    let depth = queue.depth
                    LiveMetrics.queueDepth.record(depth)
                    if depth >= options.catchUpDepth { behind = true } else if depth < options.catchUpDepth / 8 { behind = false }
                    let now = Clock.monotonicSeconds()
                    let (sizeLimit, delayLimit) = behind ? (max(options.batchSize, options.catchUpBatchSize), max(options.maxBatchDelay, options.catchUpDelay))
                                                         : (options.batchSize, options.maxBatchDelay)
                    if context.batchEvents >= sizeLimit
                        || (context.batchEvents > 0 && now - batchOpened >= delayLimit) {
                        var batch = try boundary.close(context)
                        batch.oldestReceivedAt = oldestReceive
                        try await writer.submitAsync(batch)
                        summary.batches += 1
                        oldestReceive = .infinity
                        batchOpened = now
                        if let lag = processor.lastEventTimeUS.map({ Double(Clock.nowMicroseconds() - $0) / 1e6 }) {
                            LiveMetrics.lagSeconds.record(lag)
                        }
                    } else if context.batchEvents == 0 {
                        batchOpened = now
                    }
                    if now - lastStatus >= options.statusInterval {
                        lastStatus = now
                        logStatus(context: context, processor: processor, queue: queue)
                    }
                    if let exitIdle = options.exitIdle, progress.idleSeconds >= exitIdle {
                        summary.exitReason = "idle for \(exitIdle) s"
                        break
                    }
                    if shutdown.withLock({ $0 }) || Task.isCancelled {
                        summary.exitReason = "shutdown"
                        break
                    }
                    if let failure = writer.failure { throw failure }
                }
                queue.close()
                group.cancelAll()
                // Apply what was already received, then commit it with the cursor.
                for frame in await queue.next(timeout: 0) { processor.apply(frame) }
                processor.flushProgress()
                try await writer.submitAsync(try boundary.close(context))
                try await writer.finishAsync()
                // A partitioned host decides what every partition has published by now.
                if context.decidesRanksFromFeed {
                    let settle = try boundary.close(context)
                    if !settle.isEmpty {
                        try await writer.submitAsync(settle)
                        try await writer.finishAsync()
                    }
                }
            }
        } onGracefulShutdown: {
            shutdown.withLock { $0 = true }
            queue.wakeConsumer()
        }
        summary.events = context.totals.events - totalsBefore.events
        summary.duplicates = context.totals.duplicates - totalsBefore.duplicates
        summary.malformed = engine.malformedCount
        summary.reconnects = progress.reconnects
        summary.cursorUS = context.cursorUS
        if let first = processor.firstEventAt, let last = processor.lastEventAt { summary.activeSeconds = last - first }
        let histogram = commitLatencies.snapshot
        if histogram.count > 0 {
            summary.latencyP50 = Double(histogram.value(atQuantile: 0.5)) / 1_000_000
            summary.latencyP99 = Double(histogram.value(atQuantile: 0.99)) / 1_000_000
        }
        logStatus(context: context, processor: processor, queue: queue)
        return summary
    }

    private func logStatus(context: PluginContext, processor: FrameProcessor, queue: FrameQueue<LiveFrame>) {
        let lag = processor.lastEventTimeUS.map { String(Double(Clock.nowMicroseconds() - $0) / 1e6) } ?? "-"
        logger.info("status", metadata: [
            "events": "\(context.totals.events)", "duplicates": "\(context.totals.duplicates)",
            "malformed": "\(engine.malformedCount)", "lag_seconds": "\(lag)", "queue": "\(queue.depth)",
            "queue_bytes": "\(queue.bytes)", "queue_byte_waits": "\(queue.byteBudgetWaits)",
            "reconnects": "\(progress.reconnects)", "cursor_us": "\(context.cursorUS)",
        ])
    }
}

/// Turns live frames into engine input: text as JSON, binary as a zstd frame with
/// Jetstream's dictionary (v1) — or a v2 message — then the common apply path.
final class FrameProcessor {
    private let engine: HostEngine
    private let progress: IngestProgress
    private let logger: Logger
    private let gapThresholdUS: Int64
    private let zstd = ZstdFrameDecoder(dictionary: ZstdDictionary.jetstreamV1)
    private let zstdV2 = ZstdFrameDecoder(dictionary: ZstdDictionary.jetstreamV2)
    private var frameNumber = 0
    private var gapCheckedSession = 0
    private(set) var lastEventTimeUS: Int64?
    /// Monotonic times of the first and last applied event.
    private(set) var firstEventAt: Double?
    private(set) var lastEventAt: Double?
    /// Applied events not yet reported to ``IngestProgress``: their session, the first
    /// event's time, the highest time, and how many.
    private var pending: (session: Int, firstTimeUS: Int64, maxTimeUS: Int64, events: Int) = (0, 0, 0, 0)

    /// Reports the events applied since the last call (the idle timer, the reconnect
    /// cursor, the events metric).
    func flushProgress() {
        guard pending.events > 0 else { return }
        let now = Clock.monotonicSeconds()
        if firstEventAt == nil { firstEventAt = now }
        lastEventAt = now
        progress.applied(timeUS: pending.firstTimeUS, session: pending.session)
        progress.applied(timeUS: pending.maxTimeUS, session: pending.session)
        LiveMetrics.events.increment(by: pending.events)
        pending.events = 0
        pending.firstTimeUS = pending.maxTimeUS
    }

    init(engine: HostEngine, progress: IngestProgress, logger: Logger, gapThresholdUS: Int64) {
        self.engine = engine
        self.progress = progress
        self.logger = logger
        self.gapThresholdUS = gapThresholdUS
    }

    func apply(_ frame: LiveFrame) {
        frameNumber += 1
        frame.bytes.withUnsafeReadableBytes { raw in
            guard !frame.isText else { return apply(bytes: raw, frame: frame) }
            do throws(CaptureError) {
                let decoder = frame.wire == .v1 ? zstd : zstdV2
                if let bytes = try decoder.decompress(raw) { apply(bytes: bytes, frame: frame) }
            } catch {
                engine.reportMalformed(line: frameNumber, MalformedEvent(.invalidJSON, "bad zstd frame: \(error.description)"))
            }
        }
    }

    private func apply(bytes: UnsafeRawBufferPointer, frame: LiveFrame) {
        let time: Int64?
        if frame.wire == .v1 {
            time = engine.applyReturningTime(line: bytes, number: frameNumber)
        } else {
            switch engine.applyV2(frame: bytes, number: frameNumber) {
            case let .event(timeUS, _): time = timeUS
            case let .info(name, message):
                if name == "OutdatedCursor" {
                    LiveMetrics.gaps.increment()
                    logger.warning("gap: the server clamped our cursor (\(message))")
                } else {
                    logger.notice("server info", metadata: ["name": "\(name)", "message": "\(message)"])
                }
                time = nil
            case let .error(name, message):
                logger.warning("server error frame; it will close the connection", metadata: ["error": "\(name)", "message": "\(message)"])
                time = nil
            case .skipped, .malformed: time = nil
            }
        }
        guard let timeUS = time else {
            return
        }
        lastEventTimeUS = timeUS
        // Progress is reported once per pass over the queue (``flushProgress()``), not per
        // event: a lock, a clock read and a metric update per event were a visible share of
        // a catch-up's CPU. Only the session's first event and the highest time matter.
        if pending.session != frame.session {
            flushProgress()
            pending = (frame.session, timeUS, timeUS, 0)
        }
        pending.maxTimeUS = max(pending.maxTimeUS, timeUS)
        pending.events += 1
        if frame.session != gapCheckedSession {
            gapCheckedSession = frame.session
            let (session, cursor) = progress.currentSession
            if session == frame.session, let cursor, timeUS - cursor > gapThresholdUS {
                let seconds = Double(timeUS - cursor) / 1e6
                LiveMetrics.gaps.increment()
                LiveMetrics.gapSeconds.record(seconds)
                logger.warning("gap: the first event is much newer than the cursor asked for (retention exceeded?)",
                               metadata: ["cursor_us": "\(cursor)", "first_time_us": "\(timeUS)", "gap_seconds": "\(seconds)"])
            }
        }
    }
}
