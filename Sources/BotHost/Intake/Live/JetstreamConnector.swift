import CoreMetrics
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import WSClient

/// One message received from Jetstream, tagged with the session that received it.
///
/// The payload stays the bytes NIO read: a text message is not turned into a `String`
/// (a copy and a UTF-8 pass per event) because the decoder reads bytes, exactly as it
/// does from a capture file, where invalid UTF-8 is the decoder's to report.
public struct LiveFrame: Sendable {
    /// The message's payload (fragments already joined).
    public var bytes: ByteBuffer
    /// A text message (JSON); otherwise binary (one zstd frame).
    public var isText: Bool
    /// The wire the connection speaks.
    public var wire: JetstreamWire
    /// The connection it arrived on (1, 2, …).
    public var session: Int
    /// Monotonic receive time, for event→commit latency.
    public var receivedAt: Double

    /// The bytes the frame holds (the queue's budget counts these).
    public var byteCount: Int { bytes.readableBytes }

    /// A queue of frames bounded by count and by bytes: 4,096 frames or 64 MiB, whichever
    /// comes first (a hostile endpoint sending maximal frames cannot make the host hold
    /// gigabytes while the applier catches up).
    static func queue(capacity: Int = 4_096, maxBytes: Int = 64 << 20) -> FrameQueue<LiveFrame> {
        FrameQueue(capacity: capacity, maxBytes: maxBytes) { $0.byteCount }
    }
}

/// A message the WebSocket framing does not allow; the connection is dropped and resumed.
enum LiveFrameError: Error, CustomStringConvertible {
    case unexpectedContinuation
    case unexpectedDataFrame
    case messageTooLarge(Int)

    var description: String {
        switch self {
        case .unexpectedContinuation: "a continuation frame without a message to continue"
        case .unexpectedDataFrame: "a new message inside a fragmented one"
        case let .messageTooLarge(limit): "a fragmented message larger than \(limit) bytes"
        }
    }
}

/// What the processing side reports back to the connection loop: progress for the
/// reconnect cursor, and activity for the idle timer.
public final class IngestProgress: Sendable {
    private struct State {
        var session = 0
        var sessionFirstTimeUS: Int64?
        var maxTimeUS: Int64 = 0
        var connected = false
        var lastActivity = Clock.monotonicSeconds()
        var reconnects = 0
        var cursorSent: Int64?
    }
    private let state = Mutex(State())

    public init() {}

    /// Records an applied event of `session`.
    public func applied(timeUS: Int64, session: Int) {
        state.withLock { s in
            if session == s.session && s.sessionFirstTimeUS == nil { s.sessionFirstTimeUS = timeUS }
            if timeUS > s.maxTimeUS { s.maxTimeUS = timeUS }
            s.lastActivity = Clock.monotonicSeconds()
        }
    }

    func startSession(cursor: Int64?) -> Int {
        state.withLock { s in
            s.session += 1
            s.sessionFirstTimeUS = nil
            s.connected = true
            s.cursorSent = cursor
            s.lastActivity = Clock.monotonicSeconds()
            return s.session
        }
    }

    func endSession() -> (first: Int64?, max: Int64) {
        state.withLock { s in
            s.connected = false
            s.reconnects += 1
            return (s.sessionFirstTimeUS, s.maxTimeUS)
        }
    }

    /// Seeds the highest applied time (from the store's cursor).
    public func seed(maxTimeUS: Int64) { state.withLock { $0.maxTimeUS = max($0.maxTimeUS, maxTimeUS) } }

    /// Seconds without an event while connected; 0 while disconnected or reconnecting,
    /// so an idle exit never fires during a reconnect.
    public var idleSeconds: Double {
        state.withLock { s in s.connected ? Clock.monotonicSeconds() - s.lastActivity : 0 }
    }

    /// The cursor the current session asked for, and its number.
    public var currentSession: (number: Int, cursor: Int64?) { state.withLock { ($0.session, $0.cursorSent) } }

    /// Connections that ended so far.
    public var reconnects: Int { state.withLock { $0.reconnects } }
}

/// Follows Jetstream across connections: connects, pushes every message into the
/// frame queue, and on any failure reconnects per ``ReconnectPolicy`` (backoff with
/// jitter, failover across hosts, a cursor that never goes back to where it was).
/// A socket silent for `deadSocketTimeout` seconds is treated as dead.
public final class JetstreamConnector: Sendable {
    /// Connection options.
    public struct Configuration: Sendable {
        public var endpoints: [JetstreamEndpoint]
        public var subscription: JetstreamSubscription
        /// How far a resume from the stored cursor goes back. Default 5 s.
        public var rewindUS: Int64 = 5_000_000
        /// Seconds without any frame after which the socket is considered dead. Default 60.
        public var deadSocketTimeout: Double = 60
        /// Largest WebSocket message accepted.
        public var maxMessageSize: Int = 1 << 22

        public init(endpoints: [JetstreamEndpoint], subscription: JetstreamSubscription) {
            self.endpoints = endpoints
            self.subscription = subscription
        }
    }

    let configuration: Configuration
    let queue: FrameQueue<LiveFrame>
    let progress: IngestProgress
    let logger: Logger
    private let wanted: Mutex<(JetstreamSubscription, version: Int)>

    init(configuration: Configuration, queue: FrameQueue<LiveFrame>, progress: IngestProgress, logger: Logger) {
        self.configuration = configuration
        self.queue = queue
        self.progress = progress
        self.logger = logger
        wanted = Mutex((configuration.subscription, 0))
    }

    /// Changes the wanted collections; a live v1 connection gets an `options_update`,
    /// later connections ask for the new set.
    public func updateCollections(_ collections: [String]) {
        wanted.withLock { state in
            guard state.0.collections != collections else { return }
            state.0.collections = collections
            state.version += 1
        }
    }

    /// Runs until cancelled or the queue is closed.
    func run(storedCursor: Int64?) async {
        var policy = ReconnectPolicy(hosts: configuration.endpoints.map(\.description), storedCursor: storedCursor,
                                     rewindUS: configuration.rewindUS)
        var generator = SystemRandomNumberGenerator()
        while !Task.isCancelled && !queue.isClosed {
            let endpoint = configuration.endpoints[policy.hostIndex]
            let (subscription, version) = wanted.withLock { $0 }
            let url = endpoint.url(for: subscription, cursor: policy.cursor)
            let session = progress.startSession(cursor: policy.cursor)
            logger.info("connecting", metadata: ["url": "\(url.prefix(300))", "session": "\(session)"])
            let sentVersion = LockedBox(version)
            do {
                let close = try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: configuration.maxMessageSize),
                    logger: logger
                ) { [self] inbound, outbound, _ in
                    try await self.receive(inbound: inbound, outbound: outbound, session: session,
                                           wire: endpoint.wire, sentVersion: sentVersion)
                }
                if let close {
                    logger.notice("connection closed by server", metadata: ["code": "\(close.closeCode)", "reason": "\(close.reason ?? "")"])
                }
            } catch {
                if Task.isCancelled || queue.isClosed { break }  // shutting down, not a failure
                logger.warning("connection failed", metadata: ["error": "\(error)", "host": "\(endpoint)"])
            }
            let (first, maxTime) = progress.endSession()
            LiveMetrics.reconnects.increment()
            let delay = policy.sessionEnded(firstTimeUS: first, maxTimeUS: maxTime,
                                            random: Double.random(in: 0..<1, using: &generator))
            if Task.isCancelled || queue.isClosed { break }
            if delay > 0 {
                logger.info("reconnecting", metadata: ["in_seconds": "\(delay)", "host": "\(policy.host)"])
                try? await Task.sleep(for: .seconds(delay))
            }
        }
    }

    private func receive(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, session: Int,
                         wire: JetstreamWire, sentVersion: LockedBox<Int>) async throws {
        let lastFrame = LockedBox(Clock.monotonicSeconds())
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Watchdog: a silent socket is dead; options_update when the wanted set changes.
            group.addTask { [self] in
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(250))
                    if Clock.monotonicSeconds() - lastFrame.value > configuration.deadSocketTimeout {
                        logger.warning("no frame for \(configuration.deadSocketTimeout) s: treating the socket as dead")
                        try await outbound.close(.goingAway, reason: "idle")
                        return
                    }
                    let (subscription, version) = wanted.withLock { $0 }
                    if wire == .v1 && version != sentVersion.value {
                        sentVersion.value = version
                        try await outbound.write(.text(JetstreamEndpoint.optionsUpdate(subscription)))
                        logger.info("sent options_update", metadata: ["collections": "\(subscription.collections)"])
                    }
                }
            }
            group.addTask { [self] in
                // Frames, not `messages(maxSize:)`: that API turns every text message into a
                // String. Fragments (rare: Jetstream sends one frame per event) are joined here.
                var pending: (bytes: ByteBuffer, isText: Bool)?
                for try await frame in inbound {
                    let now = Clock.monotonicSeconds()
                    lastFrame.value = now
                    var message: (bytes: ByteBuffer, isText: Bool)
                    switch frame.opcode {
                    case .text, .binary:
                        guard pending == nil else { throw LiveFrameError.unexpectedDataFrame }
                        message = (frame.data, frame.opcode == .text)
                    case .continuation:
                        guard var joined = pending else { throw LiveFrameError.unexpectedContinuation }
                        guard joined.bytes.readableBytes + frame.data.readableBytes <= configuration.maxMessageSize else {
                            throw LiveFrameError.messageTooLarge(configuration.maxMessageSize)
                        }
                        var data = frame.data
                        joined.bytes.writeBuffer(&data)
                        message = joined
                        pending = nil
                    }
                    guard frame.fin else {
                        pending = message
                        continue
                    }
                    let live = LiveFrame(bytes: message.bytes, isText: message.isText, wire: wire, session: session, receivedAt: now)
                    guard await queue.push(live) else { break }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
