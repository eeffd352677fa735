import BotHost
import BotHostSQLite
import Foundation
import JetstreamServer
import Plugins
import Logging
import Testing
import XRPCClient

/// `bothost run` against the project's own Jetstream-compatible server on loopback:
/// the live path must end in exactly the state of a file replay.
@Suite(.serialized) struct LiveIntakeTests {
    private func replayState(_ lines: [String]) throws -> [AccountRecord] {
        let host = try TestHost()
        let path = host.directory.appendingPathComponent("capture.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try host.replay(path)
        return try host.exportAll()
    }

    @Test func textFramesEndInTheReplayState() async throws {
        let lines = liveCapture(events: 1500)
        let server = try await LoopbackJetstream.start(lines: lines)
        defer { server.stop() }
        let host = try TestHost()
        let summary = try await runLive(host, url: server.v1URL)
        #expect(summary.events == 1500)
        #expect(summary.exitReason.hasPrefix("idle"))
        #expect(try host.exportAll() == replayState(lines))
        #expect(try host.store.cursor() == 1_700_000_000_000_000 + Int64(10 + 1500))
    }

    @Test func zstdFramesDecodeLikeText() async throws {
        let lines = liveCapture(events: 800)
        let server = try await LoopbackJetstream.start(lines: lines)
        defer { server.stop() }
        let host = try TestHost()
        let summary = try await runLive(host, url: server.v1URL, compress: true)
        #expect(summary.events == 800)
        #expect(summary.malformed == 0)
        #expect(try host.exportAll() == replayState(lines))
    }

    @Test func dropsEveryFewHundredEventsLoseNothingAndCountNothingTwice() async throws {
        let lines = liveCapture(events: 3000)
        var options = ReplayServer.Options()
        options.dropEvery = 170
        let server = try await LoopbackJetstream.start(lines: lines, options: options)
        defer { server.stop() }
        let host = try TestHost()
        // A rewind longer than a whole session: the cursor must still progress. Five quiet
        // seconds before ending: a loaded machine can be slow to resume after each drop.
        let summary = try await runLive(host, url: server.v1URL, compress: true, exitIdle: 5, rewindUS: 60_000_000)
        #expect(summary.reconnects >= 10)
        #expect(server.server.connectionCount >= 10)
        #expect(summary.duplicates > 0)
        #expect(try host.exportAll() == replayState(lines))
    }

    @Test func resumesFromTheStoredCursorAfterARestart() async throws {
        let lines = liveCapture(events: 1200)
        let first = try await LoopbackJetstream.start(lines: Array(lines.prefix(700)))
        let host = try TestHost()
        _ = try await runLive(host, url: first.v1URL)
        first.stop()
        try host.restart()
        let second = try await LoopbackJetstream.start(lines: lines)
        defer { second.stop() }
        // Test events are 1 µs apart: a 100 µs rewind re-reads ~100 of them.
        let summary = try await runLive(host, url: second.v1URL, rewindUS: 100)
        // Resumed at the stored cursor minus the rewind, not from the start.
        #expect(summary.events > 500 && summary.events < 700)
        #expect(summary.duplicates >= 90)
        #expect(try host.exportAll() == replayState(lines))
    }

    @Test func malformedFramesAreCountedAndSkipped() async throws {
        let lines = liveCapture(events: 600)
        var options = ReplayServer.Options()
        options.garbageEvery = 50
        let server = try await LoopbackJetstream.start(lines: lines, options: options)
        defer { server.stop() }
        for compress in [false, true] {
            let host = try TestHost()
            let summary = try await runLive(host, url: server.v1URL, compress: compress)
            #expect(summary.malformed == 12, "compress \(compress)")
            #expect(summary.events == 600)
            #expect(try host.exportAll() == replayState(lines))
        }
    }

    @Test func v2WireEndsInTheSameState() async throws {
        let lines = liveCapture(events: 900)
        var options = ReplayServer.Options()
        options.dropEvery = 250
        let server = try await LoopbackJetstream.start(lines: lines, options: options)
        defer { server.stop() }
        for compress in [false, true] {
            let host = try TestHost()
            let summary = try await runLive(host, url: server.v2URL, compress: compress)
            #expect(summary.malformed == 0, "compress \(compress)")
            #expect(try host.exportAll() == replayState(lines), "compress \(compress)")
        }
    }

    @Test func aServerThatIsNotJetstreamDoesNotCrashTheClient() async throws {
        // The v1 path of a server that refuses the upgrade (HTTP 400 for a bad cursor is
        // what Jetstream answers; here every attempt is refused): the client backs off and
        // keeps trying, and never counts an event.
        let host = try TestHost()
        let server = try await LoopbackJetstream.start(lines: liveCapture(events: 10))
        defer { server.stop() }
        let url = "ws://127.0.0.1:\(server.port)/subscribe?wantedCollections=not-an-nsid"
        let task = Task { try await runLive(host, url: url, collections: ["not valid"]) }
        try await Task.sleep(for: .seconds(1.5))
        task.cancel()
        let summary = try await task.value
        #expect(summary.events == 0)
        #expect(summary.reconnects >= 2)
    }

    @Test func changingTheWantedCollectionsSendsAnOptionsUpdate() async throws {
        var options = ReplayServer.Options()
        options.rate = 200  // keep the connection busy while the test changes the set
        let server = try await LoopbackJetstream.start(lines: liveCapture(events: 2000), options: options)
        defer { server.stop() }
        let host = try TestHost()
        var logger = Logger(label: "test.live")
        logger.logLevel = .critical
        var connector = JetstreamConnector.Configuration(
            endpoints: [try JetstreamEndpoint(server.v1URL)],
            subscription: JetstreamSubscription(collections: ["app.bsky.feed.like"], compress: false))
        connector.rewindUS = 0
        let live = LiveHost(engine: host.engine, store: host.store, connector: connector, options: .init(), logger: logger)
        let task = Task { try await live.runUntilDone() }
        try await Task.sleep(for: .milliseconds(500))
        live.updateCollections(["app.bsky.feed.post", "app.bsky.feed.repost"])
        try await Task.sleep(for: .milliseconds(800))
        task.cancel()
        _ = try await task.value
        let updates = server.server.appliedOptionsUpdates
        #expect(updates.count == 1)
        #expect(updates.first?.contains(#""wantedCollections":["app.bsky.feed.post","app.bsky.feed.repost"]"#) == true)
    }
}
