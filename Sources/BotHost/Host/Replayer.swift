/// Plays a capture (JSON lines, zstd JSON lines, or stdin) through a host engine
/// into the store, batch by batch.
public final class Replayer {
    /// Options of a replay.
    public struct Options: Sendable {
        /// Events per committed batch.
        public var batchSize: Int
        /// Called about twice a second with progress (not at all when nil).
        public var progressInterval: Double?
        /// Decode workers: 1 decodes on the applying thread; more run the reader and
        /// the tokenizing on their own threads (``ParallelDecoder``). Events are applied
        /// in file order either way, so the results never depend on it.
        public var workers: Int
        /// Bytes of lines per decode chunk (with more than one worker).
        public var decodeChunkBytes = 1 << 20

        public init(batchSize: Int = 100_000, progressInterval: Double? = nil, workers: Int = 1) {
            self.batchSize = batchSize
            self.progressInterval = progressInterval
            self.workers = workers
        }
    }

    /// Progress of a running replay.
    public struct Progress: Sendable {
        public var lines: Int
        public var events: Int
        public var bytesConsumed: Int
        public var totalBytes: Int?
        public var elapsed: Double
    }

    /// What a replay did.
    public struct Summary: Sendable {
        public var lines = 0
        public var events = 0
        public var duplicates = 0
        public var malformed = 0
        public var malformedByReason: [MalformedEvent.Reason: Int] = [:]
        public var malformedSamples: [(line: Int, error: MalformedEvent)] = []
        public var accounts = 0
        public var newAccounts = 0
        public var xpGranted: Int64 = 0
        public var xpRevoked: Int64 = 0
        public var milestones = 0
        public var announcements = 0
        public var batches = 0
        public var seconds = 0.0
        public var commitSeconds = 0.0
        public var cursorUS: Int64 = 0
        /// Seconds per stage: tokenizing (summed over the decode workers; with one worker
        /// it is part of applying), the applying thread's whole run (including its waits
        /// for the writer), and those waits (backpressure). The writer's own time is
        /// `commitSeconds`, overlapping the others.
        public var decodeSeconds = 0.0
        public var applySeconds = 0.0
        public var writerWaitSeconds = 0.0
        public var workers = 1
        /// Grants read back from the store (records older than the hot window).
        public var coldGrantLookups = 0
        /// Other partitions' events passed on their DID (a partitioned host).
        public var foreign = 0
    }

    private let engine: HostEngine
    private let writer: BatchWriter
    private let options: Options
    private let store: any StateStore

    public init(engine: HostEngine, store: any StateStore, options: Options = Options()) {
        self.engine = engine
        self.writer = BatchWriter(store: store)
        self.options = options
        self.store = store
    }

    /// Replays every line of `reader`, committing a batch every `batchSize` events.
    ///
    /// - Parameter progress: called on this thread every `progressInterval` seconds.
    /// - Throws: `CaptureError` when the capture cannot be read, or a store error; all
    ///   batches before the failure stay committed.
    public func run(_ reader: LineReader, progress: ((Progress) -> Void)? = nil) throws -> Summary {
        let start = Clock.monotonicSeconds()
        let context = engine.context
        let accountsBefore = context.state.accounts.count
        let totalsBefore = context.totals
        let coldBefore = context.residency.coldGrantLookups
        var lastProgress = start
        var lines = 0
        var batches = 0
        let batchSize = max(1, options.batchSize)
        var readError: (any Error)?
        var boundary = BatchBoundary(store: store)
        var writerWait = 0.0
        /// Closes and submits a batch when it is full; reports progress.
        func batchBoundary() throws {
            guard context.batchEvents >= batchSize else { return }
            let t0 = Clock.monotonicSeconds()
            try writer.submit(try boundary.close(context))
            writerWait += Clock.monotonicSeconds() - t0
            batches += 1
            if let interval = options.progressInterval, let progress {
                let now = Clock.monotonicSeconds()
                if now - lastProgress >= interval {
                    lastProgress = now
                    progress(Progress(lines: lines, events: context.totals.events - totalsBefore.events,
                                      bytesConsumed: reader.consumed, totalBytes: reader.totalSize,
                                      elapsed: now - start))
                }
            }
        }
        var decodeSeconds = 0.0
        if options.workers > 1 {
            let pipeline = ParallelDecoder(workers: options.workers, chunkBytes: options.decodeChunkBytes)
            pipeline.start(UncheckedReader(reader))
            do {
                while let chunk = pipeline.next() {
                    for index in chunk.starts.indices {
                        lines += 1
                        let number = chunk.numbers[index]
                        if chunk.ends[index] < 0 {
                            engine.reportMalformed(line: number, MalformedEvent(.tooLong, "line of \(-Int(chunk.ends[index])) bytes exceeds the \(reader.maxLineLength)-byte limit"))
                        } else if chunk.tokenStarts[index] < 0 {
                            engine.reportMalformed(line: number, MalformedEvent(syntax: chunk.errors[index] ?? JSONSyntaxError(.empty, at: 0)))
                        } else {
                            engine.apply(root: chunk.root(index), number: number)
                        }
                        try batchBoundary()
                    }
                    pipeline.recycle(chunk)
                }
            } catch {
                readError = error
            }
            do { try pipeline.finish() } catch { if readError == nil { readError = error } }
            decodeSeconds = pipeline.decodeSeconds
        } else {
            do {
                try reader.forEachLine { line in
                    lines += 1
                    switch line {
                    case let .text(bytes):
                        engine.apply(line: bytes, number: reader.lineNumber)
                    case let .tooLong(length):
                        engine.reportMalformed(line: reader.lineNumber,
                                               MalformedEvent(.tooLong, "line of \(length) bytes exceeds the \(reader.maxLineLength)-byte limit"))
                    }
                    try batchBoundary()
                    return true
                }
            } catch {
                readError = error
            }
        }
        // Commit what was applied before a read error too: it is valid work.
        try writer.finish()  // commands read below must see the committed state
        let last = try boundary.close(context)
        if !last.isEmpty || batches == 0 {
            try writer.submit(last)
            batches += 1
        }
        try writer.finish()
        if readError == nil { try settleRanks(&boundary) }
        if let readError { throw readError }

        var summary = Summary()
        summary.lines = lines
        summary.events = context.totals.events - totalsBefore.events
        summary.duplicates = context.totals.duplicates - totalsBefore.duplicates
        summary.foreign = context.totals.foreign - totalsBefore.foreign
        summary.malformed = engine.malformedCount
        summary.malformedByReason = engine.malformed
        summary.malformedSamples = engine.malformedSamples
        summary.accounts = context.state.accounts.count
        summary.newAccounts = context.state.accounts.count - accountsBefore
        summary.xpGranted = context.totals.xpGranted - totalsBefore.xpGranted
        summary.xpRevoked = context.totals.xpRevoked - totalsBefore.xpRevoked
        summary.milestones = context.totals.milestones - totalsBefore.milestones
        summary.announcements = context.totals.announcements - totalsBefore.announcements
        summary.batches = batches
        summary.seconds = Clock.monotonicSeconds() - start
        summary.commitSeconds = writer.committed.seconds
        summary.decodeSeconds = decodeSeconds
        summary.writerWaitSeconds = writerWait
        summary.applySeconds = summary.seconds
        summary.workers = max(1, options.workers)
        summary.coldGrantLookups = context.residency.coldGrantLookups - coldBefore
        summary.cursorUS = context.cursorUS
        return summary
    }
}

extension Replayer {
    /// A partitioned host decides, once its last batch is committed, the ranking
    /// boundaries every partition has published by then (the last host to finish a
    /// capture decides them all).
    fileprivate func settleRanks(_ boundary: inout BatchBoundary) throws {
        guard engine.context.decidesRanksFromFeed else { return }
        let settle = try boundary.close(engine.context)
        guard !settle.isEmpty else { return }
        try writer.submit(settle)
        try writer.finish()
    }
}

/// Hands the line reader to the pipeline's reader thread, which is then its only user.
struct UncheckedReader: @unchecked Sendable {
    let reader: LineReader
    init(_ reader: LineReader) { self.reader = reader }
}
