import BotHost
import BotHostConfig
import Foundation
import JetstreamServer
import Logging
import Plugins
import Synchronization

/// A `serve-jetstream` server running in this process on a free loopback port.
final class LoopbackJetstream: Sendable {
    let task: Task<Void, any Error>
    let port: Int
    let server: ReplayServer

    /// Starts a server for `lines` and waits until it listens.
    static func start(lines: [String], options: ReplayServer.Options = .init()) async throws -> LoopbackJetstream {
        var options = options
        options.port = 0
        let capture = ReplayCapture(lines: lines.map { Array($0.utf8) })
        var logger = Logger(label: "test.jetstream")
        logger.logLevel = .critical
        let server = ReplayServer(capture: capture, options: options, logger: logger)
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { port in continuation.yield(port) } }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CaptureError("server did not start") }
        return LoopbackJetstream(task: task, port: port, server: server)
    }

    private init(task: Task<Void, any Error>, port: Int, server: ReplayServer) {
        self.task = task
        self.port = port
        self.server = server
    }

    var v1URL: String { "ws://127.0.0.1:\(port)/subscribe" }
    var v2URL: String { "ws://127.0.0.1:\(port)\(JetstreamEndpoint.v2Path)" }

    func stop() { task.cancel() }
}

/// Runs `bothost run`'s live host in process against `url` until it has been idle.
/// (Five idle seconds: on a loaded machine the first frame of a session can take a while.)
func runLive(_ host: TestHost, url: String, compress: Bool = false, exitIdle: Double = 5.0,
             collections: [String]? = nil, rewindUS: Int64 = 5_000_000) async throws -> LiveHost.Summary {
    var logger = Logger(label: "test.live")
    logger.logLevel = .error
    let plugins = host.configuration.makePlugins()
    let endpoint = try JetstreamEndpoint(url)
    var connector = JetstreamConnector.Configuration(
        endpoints: [endpoint],
        subscription: JetstreamSubscription(collections: collections ?? host.configuration.wantedCollections(plugins), compress: compress))
    connector.rewindUS = rewindUS
    var options = LiveHost.Options()
    options.exitIdle = exitIdle
    options.maxBatchDelay = 0.05
    let live = LiveHost(engine: host.engine, store: host.store, connector: connector, options: options, logger: logger)
    return try await live.runUntilDone()
}

/// A deterministic capture with every shape the rules read, in v1 wire form, with
/// ascending times (as Jetstream serves them).
func liveCapture(events: Int, accounts: Int = 40) -> [String] {
    typealias E = Events
    var lines: [String] = []
    let dids = (0..<accounts).map { "did:plc:live\(String(repeating: "0", count: 18))\($0 < 10 ? "0" : "")\($0)" }
    var rev = 10
    while lines.count < events {
        let i = lines.count
        rev += 1
        let did = dids[(i * 7) % dids.count]
        let other = dids[(i * 13 + 5) % dids.count]
        switch i % 9 {
        case 0, 5: lines.append(E.post(did, rev: rev, rkey: E.tid(rev), embed: i % 2 == 0 ? E.images(["alt"]) : nil))
        case 1, 2, 6: lines.append(E.like(did, rev: rev, rkey: E.tid(rev), subject: E.postURI(other, E.tid(rev - 9))))
        case 3: lines.append(E.repost(did, rev: rev, rkey: E.tid(rev), subject: E.postURI(other, E.tid(rev - 18))))
        case 4: lines.append(E.delete(did, rev: rev, collection: "app.bsky.feed.post", rkey: E.tid(rev - 40)))
        case 7: lines.append(E.commit(did, rev: rev, op: "update", collection: "app.bsky.actor.profile", rkey: "self", record: #"{"displayName":"x"}"#))
        default: lines.append(E.identity(did, handle: "user\(i).test", time: rev))
        }
    }
    return lines
}
