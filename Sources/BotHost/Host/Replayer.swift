/// Plays a capture (JSON lines, zstd JSON lines, or stdin) through a host engine
/// into the store, batch by batch.
public final class Replayer {
    /// Options of a replay.
    public struct Options: Sendable {
        /// Events per committed batch.
        public var batchSize: Int
        /// Called about twice a second with progress (not at all when nil).
        public var progressInterval: Double?

        public init(batchSize: Int = 100_000, progressInterval: Double? = nil) {
            self.batchSize = batchSize
            self.progressInterval = progressInterval
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
    }

    private let engine: HostEngine
    private let writer: BatchWriter
    private let options: Options
    private let store: Store

    public init(engine: HostEngine, store: Store, options: Options = Options()) {
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
        let accountsBefore = context.accounts.count
        let totalsBefore = context.totals
        var lastProgress = start
        var lines = 0
        var batches = 0
        let batchSize = max(1, options.batchSize)
        var readError: (any Error)?
        var appliedCommands: Int64 = 0
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
                if context.batchEvents >= batchSize {
                    context.apply(try store.pendingCommandsOnce(after: &appliedCommands))
                    try writer.submit(context.closeBatch())
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
                return true
            }
        } catch {
            readError = error
        }
        // Commit what was applied before a read error too: it is valid work.
        try writer.finish()  // commands read below must see the committed state
        context.apply(try store.pendingCommandsOnce(after: &appliedCommands))
        let last = context.closeBatch()
        if !last.isEmpty || batches == 0 {
            try writer.submit(last)
            batches += 1
        }
        try writer.finish()
        if let readError { throw readError }

        var summary = Summary()
        summary.lines = lines
        summary.events = context.totals.events - totalsBefore.events
        summary.duplicates = context.totals.duplicates - totalsBefore.duplicates
        summary.malformed = engine.malformedCount
        summary.malformedByReason = engine.malformed
        summary.malformedSamples = engine.malformedSamples
        summary.accounts = context.accounts.count
        summary.newAccounts = context.accounts.count - accountsBefore
        summary.xpGranted = context.totals.xpGranted - totalsBefore.xpGranted
        summary.xpRevoked = context.totals.xpRevoked - totalsBefore.xpRevoked
        summary.milestones = context.totals.milestones - totalsBefore.milestones
        summary.announcements = context.totals.announcements - totalsBefore.announcements
        summary.batches = batches
        summary.seconds = Clock.monotonicSeconds() - start
        summary.commitSeconds = writer.committed.seconds
        summary.cursorUS = context.cursorUS
        return summary
    }
}
