import BotHost
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// `bothost serve-jetstream`: serves a capture as a Jetstream-compatible server on
/// loopback, with the faults a real network has, so bots (this one and others) can be
/// tested offline.
///
/// v1 `/subscribe` honours `wantedCollections` (exact and `prefix.*`), `wantedDids`,
/// `cursor` (events with `time_us >= cursor`, ascending per connection), `compress=true`
/// (one zstd frame per event with Jetstream's dictionary, binary messages),
/// `maxMessageSizeBytes` (larger events are skipped), `requireHello` (nothing until an
/// `options_update`), and `options_update` messages; bad parameters get HTTP 400.
public final class ReplayServer: Sendable {
    /// Pacing and fault injection.
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        /// 0 picks a free port (tests read it from `onRunning`).
        public var port = 6008
        /// Events per second per connection (nil: as fast as the client reads).
        public var rate: Double?
        /// Play at this multiple of the capture's own pace (by `time_us`).
        public var speed: Double?
        /// Send each event when the wall clock reaches its `time_us` (earlier events at
        /// once): a capture stamped in the near future then arrives as a live stream
        /// would, so event→post latency can be measured from `time_us`.
        public var wallClock = false
        /// Start over at the end instead of idling.
        public var loop = false
        /// Close each connection abruptly after this many events.
        public var dropEvery: Int?
        /// Pause this many milliseconds every `stallEvery` events.
        public var stallMS: Int?
        public var stallEvery = 1000
        /// Send a malformed frame every this many events.
        public var garbageEvery: Int?
        /// Compress every event's v1 zstd frame once, in the background from the start, as
        /// Jetstream compresses each event once for all its subscribers (`serve-jetstream`
        /// does; tests' small captures compress as they go).
        public var precompress = false
        public init() {}
    }

    public let capture: ReplayCapture
    public let options: Options
    let logger: Logger
    private let connections = Mutex(0)
    private let updates = Mutex<[String]>([])
    /// Each event's v1 zstd frame, made once for every subscriber (as Jetstream does), by
    /// capture index; filled as events are first sent.
    private let compressedFrames = Mutex<[Int: ByteBuffer]>([:])

    /// Every `options_update` applied so far (for tests and logs).
    public var appliedOptionsUpdates: [String] { updates.withLock { $0 } }

    public init(capture: ReplayCapture, options: Options, logger: Logger) {
        self.capture = capture
        self.options = options
        self.logger = logger
    }

    /// Connections accepted so far.
    public var connectionCount: Int { connections.withLock { $0 } }

    /// Runs until cancelled or shut down; `onRunning` gets the bound port.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        router.get("/subscribe") { request, _ -> Response in
            // Reached only when the upgrade was refused: say why.
            do throws(SubscribeOptions.Invalid) {
                _ = try SubscribeOptions.parse(query: request.uri.query ?? "")
                return Self.error(.badRequest, "InvalidRequest", "expected a WebSocket upgrade")
            } catch {
                return Self.error(.badRequest, "InvalidRequest", error.description)
            }
        }
        router.get(RouterPath(stringLiteral: JetstreamEndpoint.v2Path)) { request, _ -> Response in
            do throws(V2Options.Invalid) {
                _ = try V2Options.parse(query: request.uri.query ?? "")
                return Self.error(.badRequest, "InvalidRequest", "expected a WebSocket upgrade")
            } catch {
                return Self.error(.badRequest, error.code, error.message)
            }
        }
        router.get("/xrpc/network.bsky.jetstream.getZstdDictionary") { request, _ -> Response in
            let id = request.uri.queryParameters.get("id") ?? String(JetstreamV2.dictionaryID)
            guard id == String(JetstreamV2.dictionaryID) else {
                return Self.error(.badRequest, "UnknownZstdDictionary", "unknown dictionary \(id)")
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: ZstdDictionary.jetstreamV2.bytes)))
        }
        router.get("/healthz") { _, _ in "ok" }

        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: .init(ws: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(30))))) {
                [self] request, channel, _ in
                let target = request.path ?? ""
                let path = String(target.prefix(while: { $0 != "?" }))
                let query = String(target.drop(while: { $0 != "?" }).dropFirst())
                if path == "/subscribe" {
                    guard let subscribe = try? SubscribeOptions.parse(query: query) else { return .dontUpgrade }
                    return .upgrade([:]) { inbound, outbound, _ in
                        await self.serveV1(subscribe, inbound: inbound, outbound: outbound, channel: channel)
                    }
                }
                if path == JetstreamEndpoint.v2Path {
                    guard let v2 = try? V2Options.parse(query: query) else { return .dontUpgrade }
                    var headers = HTTPFields()
                    let offered = request.headerFields[values: .secWebSocketProtocol]
                        .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                    if offered.contains("xrpc.v1.json") { headers[.secWebSocketProtocol] = "xrpc.v1.json" }
                    return .upgrade(headers) { inbound, outbound, _ in
                        await self.serveV2(v2, inbound: inbound, outbound: outbound, channel: channel)
                    }
                }
                return .dontUpgrade
            },
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "bothost-jetstream"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let precompress = options.precompress ? Task(priority: .background) { [self] in
            let encoder = ZstdFrameEncoder(dictionary: ZstdDictionary.jetstreamV1)
            for (index, entry) in capture.entries.enumerated() where !Task.isCancelled {
                _ = compressed(index, entry, encoder)
            }
        } : nil
        defer { precompress?.cancel() }
        try await app.runService(gracefulShutdownSignals: [])
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        let json = JSONWriter()
        json.object {
            json.field("error", code)
            json.field("message", message)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.output)))
    }

    // MARK: - v1

    func connectionCountIncrement() -> Int { connections.withLock { $0 += 1; return $0 } }

    private func serveV1(_ initial: SubscribeOptions, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                         channel: any Channel) async {
        let number = connectionCountIncrement()
        let state = LockedBox(initial)
        let hello = LockedBox(!initial.requireHello)
        logger.info("v1 subscriber", metadata: ["connection": "\(number)", "cursor": "\(initial.cursor.map(String.init) ?? "live")"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                do {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case let .text(text) = message else { continue }
                        do throws(SubscribeOptions.Invalid) {
                            var options = state.value
                            try options.apply(optionsUpdate: text)
                            state.value = options
                            hello.value = true
                            self.updates.withLock { $0.append(text) }
                        } catch {
                            try? await outbound.close(.unacceptableData, reason: error.description)
                            return
                        }
                    }
                } catch {}
            }
            group.addTask { [self] in
                while !hello.value && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
                // A cursor older than the capture is clamped silently, as Jetstream v1 does.
                let start = initial.cursor.map { self.capture.firstIndex(atOrAfter: $0) } ?? 0
                await self.sendEvents(startIndex: start, minimumTimeUS: initial.cursor ?? .min, filter: { state.value },
                                      outbound: outbound, channel: channel,
                                      encode: { index, entry, options, encoder in
                                          // The line's bytes as they are: a `.text(String)` frame would decode
                                          // them to a String and encode them back (a UTF-8 pass and two copies).
                                          options.compress ? .binary(self.compressed(index, entry, encoder))
                                                           : .custom(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: entry.json)))
                                      }, onDrop: { _ in })
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// An event's zstd frame with Jetstream's v1 dictionary, compressed once.
    private func compressed(_ index: Int, _ entry: ReplayCapture.Entry, _ encoder: ZstdFrameEncoder) -> ByteBuffer {
        if let frame = compressedFrames.withLock({ $0[index] }) { return frame }
        let frame = ByteBuffer(bytes: encoder.compress(entry.json))
        compressedFrames.withLock { $0[index] = frame }
        return frame
    }

    /// The send loop shared by both wires: cursor, filters, pacing, faults.
    ///
    /// Frames go out in runs (up to 64 frames or 64 KiB) written straight to the channel
    /// with one flush, one event-loop hop and one `writev`: through the outbound writer
    /// every frame cost its own hop, flush and system call, which made the server, not
    /// the host under test, most of a loopback benchmark's CPU. A run is sent before any
    /// pause, fault or the end of the capture, so pacing and faults see the same order.
    func sendEvents<Filter: Sendable>(
        startIndex: Int, minimumTimeUS: Int64 = .min, filter: @escaping @Sendable () -> Filter, outbound: WebSocketOutboundWriter, channel: any Channel,
        encode: (Int, ReplayCapture.Entry, Filter, ZstdFrameEncoder) -> WebSocketOutboundWriter.OutboundFrame?,
        onDrop: (Int) async -> Void
    ) async where Filter: EventFilter {
        let entries = capture.entries
        var index = startIndex
        let encoder = ZstdFrameEncoder(dictionary: filter().dictionary)
        var sent = 0
        let start = Clock.monotonicSeconds()
        var firstTime: Int64?
        var run: [WebSocketFrame] = []
        var runBytes = 0
        func sendRun() async -> Bool {
            guard !run.isEmpty else { return true }
            let frames = run
            run.removeAll(keepingCapacity: true)
            runBytes = 0
            do {
                try await channel.eventLoop.flatSubmit {
                    for frame in frames.dropLast() { channel.write(frame, promise: nil) }
                    return channel.writeAndFlush(frames[frames.count - 1])
                }.get()
                return true
            } catch {
                return false
            }
        }
        while !Task.isCancelled {
            if index >= entries.count {
                guard await sendRun() else { return }
                if options.loop && !entries.isEmpty {
                    index = 0
                    continue
                }
                try? await Task.sleep(for: .milliseconds(200))  // tail: nothing new to send
                continue
            }
            let entry = entries[index]
            index += 1
            guard entry.timeUS >= minimumTimeUS else { continue }
            let current = filter()
            guard current.wants(entry), current.maxMessageSizeBytes == 0 || entry.json.count <= current.maxMessageSizeBytes else { continue }
            // Pacing.
            let paced = options.rate != nil || options.wallClock || options.speed != nil
            if paced { guard await sendRun() else { return } }
            if let rate = options.rate, rate > 0 {
                let due = start + Double(sent) / rate
                let wait = due - Clock.monotonicSeconds()
                if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
            } else if options.wallClock {
                let wait = Double(entry.timeUS - Clock.nowMicroseconds()) / 1e6
                if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
            } else if let speed = options.speed, speed > 0 {
                let first = firstTime ?? entry.timeUS
                firstTime = first
                let due = start + Double(entry.timeUS - first) / 1e6 / speed
                let wait = due - Clock.monotonicSeconds()
                if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
            }
            if let every = options.garbageEvery, every > 0, (sent + 1) % every == 0 {
                run.append(current.compressed
                    ? WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0xFF]))
                    : WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "{\"did\":\"did:plc:garbage\",\"time_us\":")))
            }
            guard let frame = encode(index - 1, entry, current, encoder).map(Self.frame) else { continue }
            run.append(frame)
            runBytes += frame.length
            if run.count >= 64 || runBytes >= 64 << 10 || paced {
                guard await sendRun() else { return }
            }
            sent += 1
            if let every = options.dropEvery, every > 0, sent % every == 0 {
                guard await sendRun() else { return }
                logger.info("dropping connection (fault injection)", metadata: ["after_events": "\(sent)"])
                await onDrop(index)
                try? await channel.close(mode: .all)  // abrupt: no close frame
                return
            }
            if let stall = options.stallMS, stall > 0, options.stallEvery > 0, sent % options.stallEvery == 0 {
                guard await sendRun() else { return }
                try? await Task.sleep(for: .milliseconds(stall))
            }
        }
    }
}

extension ReplayServer {
    /// The frame an outbound-writer frame stands for (servers do not mask).
    static func frame(_ outbound: WebSocketOutboundWriter.OutboundFrame) -> WebSocketFrame {
        switch outbound {
        case let .text(text): WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))
        case let .binary(buffer): WebSocketFrame(fin: true, opcode: .binary, data: buffer)
        case .pong: WebSocketFrame(fin: true, opcode: .pong, data: ByteBuffer())
        case let .custom(frame): frame
        }
    }
}

/// What the send loop needs from a wire's subscriber options.
protocol EventFilter: Sendable {
    func wants(_ entry: ReplayCapture.Entry) -> Bool
    var maxMessageSizeBytes: Int { get }
    var compressed: Bool { get }
    var dictionary: ZstdDictionary? { get }
}

extension SubscribeOptions: EventFilter {
    var compressed: Bool { compress }
    var dictionary: ZstdDictionary? { ZstdDictionary.jetstreamV1 }
}
