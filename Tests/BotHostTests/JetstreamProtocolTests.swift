import BotHost
import JetstreamServer
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import Testing
import WSClient

/// The replay server's protocol, driven by real clients over loopback.
@Suite(.serialized) struct JetstreamServerTests {
    private func record(_ url: String, subscription: JetstreamSubscription, cursor: Int64? = nil) async throws -> [String] {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("out.jsonl").path
        let writer = try CaptureWriter(path: path)
        var logger = Logger(label: "test.record")
        logger.logLevel = .critical
        let recorder = JetstreamRecorder(configuration: .init(endpoints: [try JetstreamEndpoint(url)], subscription: subscription), logger: logger)
        _ = try await recorder.record(into: writer, cursor: cursor, count: nil, duration: 30, exitIdle: 5)
        try writer.finish()
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    private func events(_ lines: [String]) -> [(did: String, kind: String, collection: String?, time: Int64)] {
        lines.map { line in
            let json = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let commit = json["commit"] as? [String: Any]
            return (json["did"] as! String, json["kind"] as! String, commit?["collection"] as? String, (json["time_us"] as! NSNumber).int64Value)
        }
    }

    @Test func filtersByCollectionPrefixAndDid() async throws {
        let lines = liveCapture(events: 400)
        let server = try await LoopbackJetstream.start(lines: lines)
        defer { server.stop() }
        let all = events(lines)
        let likes = events(try await record(server.v1URL, subscription: .init(collections: ["app.bsky.feed.like"], compress: false)))
        #expect(likes.count == all.filter { $0.collection == "app.bsky.feed.like" || $0.kind != "commit" }.count)
        #expect(likes.allSatisfy { $0.kind != "commit" || $0.collection == "app.bsky.feed.like" })
        let feed = events(try await record(server.v1URL, subscription: .init(collections: ["app.bsky.feed.*"], compress: true)))
        #expect(feed.count == all.filter { $0.kind != "commit" || $0.collection!.hasPrefix("app.bsky.feed.") }.count)
        let did = all[0].did
        let one = events(try await record(server.v1URL, subscription: .init(collections: [], dids: [did], compress: false)))
        #expect(one.count == all.filter { $0.did == did }.count)
        #expect(one.allSatisfy { $0.did == did })
    }

    @Test func cursorStartsAtTheFirstEventNotOlderThanIt() async throws {
        let lines = liveCapture(events: 300)
        let server = try await LoopbackJetstream.start(lines: lines)
        defer { server.stop() }
        let all = events(lines)
        let cursor = all[120].time
        let got = events(try await record(server.v1URL, subscription: .init(collections: [], compress: false), cursor: cursor))
        #expect(got.count == all.filter { $0.time >= cursor }.count)
        #expect(got.first?.time == cursor)
        #expect(got.map(\.time) == got.map(\.time).sorted())
    }

    @Test func v2FramesRoundTripToTheSameEvents() async throws {
        let lines = liveCapture(events: 200)
        let server = try await LoopbackJetstream.start(lines: lines)
        defer { server.stop() }
        for compress in [false, true] {
            let got = try await record(server.v2URL, subscription: .init(collections: [], compress: compress))
            #expect(events(got).map(\.time) == events(lines).map(\.time), "compress \(compress)")
            // The v1 lines rebuilt from v2 frames carry the same records.
            let original = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! NSDictionary
            let rebuilt = try JSONSerialization.jsonObject(with: Data(got[0].utf8)) as! NSDictionary
            #expect(original == rebuilt)
        }
    }

    @Test func badParametersGetHTTP400WithTheReason() async throws {
        let server = try await LoopbackJetstream.start(lines: liveCapture(events: 5))
        defer { server.stop() }
        func get(_ path: String) throws -> (Int, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments = ["-s", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:\(server.port)\(path)"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            process.waitUntilExit()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let parts = text.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(parts.last ?? "") ?? 0, parts.dropLast().joined(separator: "\n"))
        }
        let badCursor = try get("/subscribe?cursor=yesterday")
        #expect(badCursor.0 == 400 && badCursor.1.contains("invalid cursor"))
        let badCollection = try get("/subscribe?wantedCollections=not_an_nsid")
        #expect(badCollection.0 == 400 && badCollection.1.contains("invalid wantedCollections"))
        let badDid = try get("/subscribe?wantedDids=alice")
        #expect(badDid.0 == 400 && badDid.1.contains("invalid wantedDids"))
        let legacy = try get("/xrpc/network.bsky.jetstream.subscribeEvents?wantedDids=did:plc:x")
        #expect(legacy.0 == 400 && legacy.1.contains(#""error":"InvalidRequest""#) && legacy.1.contains("use dids"))
        let dictionary = try get("/xrpc/network.bsky.jetstream.subscribeEvents?zstdDictionary=7")
        #expect(dictionary.0 == 400 && dictionary.1.contains("UnknownZstdDictionary"))
        let kinds = try get("/xrpc/network.bsky.jetstream.subscribeEvents?kinds=commit&collections=app.bsky.feed.like&kinds=identity&kinds=account&kinds=sync&kinds=commit")
        #expect(kinds.0 == 400 && kinds.1.contains("too many kinds"))
    }

    @Test func optionsUpdateAndRequireHelloChangeTheStream() async throws {
        let lines = liveCapture(events: 300)
        let server = try await LoopbackJetstream.start(lines: lines)
        defer { server.stop() }
        var logger = Logger(label: "test.ws")
        logger.logLevel = .critical
        let received = LockedCollector()
        // requireHello: nothing arrives until the options_update, which also sets the filter.
        try await WebSocketClient.connect(url: server.v1URL + "?requireHello=true", logger: logger) { inbound, outbound, _ in
            // Anything sent before the hello would be unfiltered and arrive first.
            try await Task.sleep(for: .milliseconds(300))
            try await outbound.write(.text(#"{"type":"options_update","payload":{"wantedCollections":["app.bsky.feed.repost"],"wantedDids":[]}}"#))
            var count = 0
            for try await message in inbound.messages(maxSize: 1 << 20) {
                if case let .text(text) = message { received.add(text) }
                count += 1
                if count == 20 { break }
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        let got = received.values
        #expect(got.count == 20)
        let commits = got.filter { $0.contains(#""kind":"commit""#) }
        #expect(!commits.isEmpty)
        #expect(commits.allSatisfy { $0.contains(#""collection":"app.bsky.feed.repost""#) })
    }

    @Test func anInvalidOptionsUpdateClosesTheConnection() async throws {
        let server = try await LoopbackJetstream.start(lines: liveCapture(events: 50))
        defer { server.stop() }
        var logger = Logger(label: "test.ws")
        logger.logLevel = .critical
        let close = try await WebSocketClient.connect(url: server.v1URL + "?requireHello=true", logger: logger) { inbound, outbound, _ in
            try await outbound.write(.text(#"{"type":"options_update","payload":{"wantedDids":["not-a-did"]}}"#))
            for try await _ in inbound.messages(maxSize: 1 << 20) {}
        }
        #expect(close?.reason?.contains("invalid wantedDids") == true)
    }
}

final class LockedCollector: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ value: String) { storage.withLock { $0.append(value) } }
    var values: [String] { storage.withLock { $0 } }
}

struct JetstreamUnitTests {
    @Test func reconnectPolicyBacksOffFailsOverAndAlwaysProgresses() {
        var policy = ReconnectPolicy(hosts: ["a", "b", "c"], storedCursor: 100_000_000, rewindUS: 5_000_000)
        #expect(policy.cursor == 95_000_000)
        // Sessions without events: exponential backoff (no jitter at random 0.5), next host each time.
        #expect(policy.sessionEnded(firstTimeUS: nil, maxTimeUS: 0, random: 0.5) == 0.25)
        #expect(policy.host == "b")
        #expect(policy.sessionEnded(firstTimeUS: nil, maxTimeUS: 0, random: 0.5) == 0.5)
        #expect(policy.sessionEnded(firstTimeUS: nil, maxTimeUS: 0, random: 0.5) == 1.0)
        #expect(policy.host == "a")
        for _ in 0..<20 { _ = policy.sessionEnded(firstTimeUS: nil, maxTimeUS: 0, random: 0.5) }
        #expect(policy.sessionEnded(firstTimeUS: nil, maxTimeUS: 0, random: 0.5) == 30)
        #expect(policy.sessionEnded(firstTimeUS: nil, maxTimeUS: 0, random: 1.0) == 36)  // +20 % jitter
        // A session that delivered events resets the backoff and moves the cursor forward,
        // rewinding at most half of what it advanced.
        let host = policy.host
        #expect(policy.sessionEnded(firstTimeUS: 95_000_000, maxTimeUS: 95_000_400, random: 0.5) == 0)
        #expect(policy.host == host)
        #expect(policy.cursor == 95_000_200)
        #expect(policy.failures == 0)
        var previous = policy.cursor!
        for step in 1...50 {
            _ = policy.sessionEnded(firstTimeUS: previous, maxTimeUS: previous + 300, random: 0.5)
            #expect(policy.cursor! > previous, "step \(step)")
            previous = policy.cursor!
        }
        // A long session rewinds the full 5 s.
        _ = policy.sessionEnded(firstTimeUS: previous, maxTimeUS: previous + 60_000_000, random: 0.5)
        #expect(policy.cursor == previous + 55_000_000)
        // Events but no progress: back off on the same host.
        let stuck = policy.cursor!
        let delay = policy.sessionEnded(firstTimeUS: stuck, maxTimeUS: stuck, random: 0.5)
        #expect(delay > 0 && policy.cursor == stuck)
    }

    @Test func endpointURLsSelectTheWire() throws {
        let v1 = try JetstreamEndpoint("wss://jetstream1.us-east.bsky.network/subscribe")
        #expect(v1.wire == .v1)
        let subscription = JetstreamSubscription(collections: ["app.bsky.feed.post", "app.bsky.graph.*"], dids: ["did:plc:a"], compress: true)
        #expect(v1.url(for: subscription, cursor: 42) ==
            "wss://jetstream1.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post&wantedCollections=app.bsky.graph.*&wantedDids=did:plc:a&compress=true&cursor=42")
        let v2 = try JetstreamEndpoint("ws://127.0.0.1:9/xrpc/network.bsky.jetstream.subscribeEvents")
        #expect(v2.wire == .v2)
        #expect(v2.url(for: subscription, cursor: nil) ==
            "ws://127.0.0.1:9/xrpc/network.bsky.jetstream.subscribeEvents?collections=app.bsky.feed.post&collections=app.bsky.graph.*&dids=did:plc:a&zstdDictionary=20260811")
        #expect(try JetstreamEndpoint("ws://host", allowPlaintext: true).wire == .v1)
        #expect(throws: CaptureError.self) { try JetstreamEndpoint("ws://jetstream.example.com/subscribe") }
        #expect(try JetstreamEndpoint("ws://localhost:6008/subscribe").wire == .v1)
        #expect(try JetstreamEndpoint("ws://[::1]:6008/subscribe").wire == .v1)
        #expect(throws: CaptureError.self) { try JetstreamEndpoint("https://host/subscribe") }
        #expect(throws: CaptureError.self) { try JetstreamEndpoint("wss://host/other") }
    }

    @Test func isoTimesRoundTrip() {
        for us: Int64 in [0, 1_779_719_009_132_431, 951_782_400_000_001, 4_102_444_799_999_999] {
            let text = ISOTime.format(microseconds: us)
            var copy = text
            #expect(copy.withUTF8 { ISOTime.parseMicroseconds(UnsafeRawBufferPointer($0)) } == us, "\(text)")
        }
        #expect(ISOTime.format(microseconds: 1_779_719_009_132_431) == "2026-05-25T14:23:29.132431Z")
        var offset = "2026-05-25T16:23:29.5+02:00"
        #expect(offset.withUTF8 { ISOTime.parseMicroseconds(UnsafeRawBufferPointer($0)) } == 1_779_719_009_500_000)
        var bad = "2026-13-25T14:23:29Z"
        #expect(bad.withUTF8 { ISOTime.parseMicroseconds(UnsafeRawBufferPointer($0)) } == nil)
    }

    @Test func v2FramesMapOntoTheEventModel() throws {
        // The research notes' derived example of golden line 1 (docs/research/jetstream-v2.md §2.4).
        let frame = #"{"$type":"message","payload":{"$type":"network.bsky.jetstream.subscribeEvents#commit","cid":"bafyreidqpc7si3dbimffi64lz3xsx2qt45ip7rpna2qpslcddp23itjjzm","collection":"app.bsky.feed.like","did":"did:plc:mcc5yghbk7tixqryac2yxku7","operation":"create","record":{"$type":"app.bsky.feed.like","createdAt":"2026-05-25T14:23:28.778Z","subject":{"cid":"bafyreiaxf7tgbfydx3465sckitq6v564thxe2wwydbi7cwxbxvgssje3em","uri":"at://did:plc:vfnmgxg2yscfliemmcxzyfyh/app.bsky.feed.post/3mmoodizfwc2j"}},"rev":"3mmoojp7vgo2g","rkey":"3mmoojp7etg2g","seq":101,"time":"2026-05-25T14:23:29.132431Z"}}"#
        let decoder = EventDecoder()
        var bytes = Array(frame.utf8)
        try bytes.withUnsafeMutableBytes { buffer in
            guard case let .event(event, seq) = try decoder.decodeV2(UnsafeRawBufferPointer(buffer)) else {
                Issue.record("not an event")
                return
            }
            #expect(seq == 101)
            #expect(event.kind == .commit)
            #expect(event.timeUS == 1_779_719_009_132_431)
            #expect(event.did.string == "did:plc:mcc5yghbk7tixqryac2yxku7")
            #expect(event.commit?.rev.string == "3mmoojp7vgo2g")
            #expect(event.commit?.operation == .create)
            #expect(event.record["subject"]["uri"].string == "at://did:plc:vfnmgxg2yscfliemmcxzyfyh/app.bsky.feed.post/3mmoodizfwc2j")
            // Rebuilt as a v1 line it equals the golden v1 event.
            let line = String(decoding: V1Line.make(event), as: UTF8.self)
            let golden = try String(contentsOfFile: Fixtures.realSamples, encoding: .utf8).split(separator: "\n")[0]
            #expect(line == golden)
        }
        for (text, expected) in [
            (#"{"$type":"error","error":"ConsumerTooSlow","message":"reconnect with cursor=42"}"#, "error:ConsumerTooSlow"),
            (#"{"$type":"message","payload":{"$type":"network.bsky.jetstream.subscribeEvents#info","message":"m","name":"OutdatedCursor"}}"#, "info:OutdatedCursor"),
            (#"{"$type":"message","payload":{"$type":"network.bsky.jetstream.subscribeEvents#sync","did":"did:plc:x","seq":1,"time":"2026-01-01T00:00:00.000000Z"}}"#, "unknown"),
        ] {
            var bytes = Array(text.utf8)
            let got: String = try bytes.withUnsafeMutableBytes { buffer in
                switch try decoder.decodeV2(UnsafeRawBufferPointer(buffer)) {
                case let .error(name, _): return "error:\(name)"
                case let .info(name, _): return "info:\(name)"
                case .unknown: return "unknown"
                case .event: return "event"
                }
            }
            #expect(got == expected)
        }
    }

    @Test func subscribeOptionsParseAndFilter() throws {
        let options = try SubscribeOptions.parse(query: "wantedCollections=app.bsky.feed.like&wantedCollections=app.bsky.graph.*&wantedDids=did%3Aplc%3Aa&cursor=5&compress=true&maxMessageSizeBytes=100")
        #expect(options.collections == ["app.bsky.feed.like"])
        #expect(options.prefixes == ["app.bsky.graph."])
        #expect(options.dids == ["did:plc:a"])
        #expect(options.cursor == 5 && options.compress && options.maxMessageSizeBytes == 100)
        #expect(throws: SubscribeOptions.Invalid.self) { try SubscribeOptions.parse(query: "cursor=abc") }
        let tooMany = (0...100).map { "wantedCollections=a.b.c\($0)" }.joined(separator: "&")
        #expect(throws: SubscribeOptions.Invalid.self) { try SubscribeOptions.parse(query: tooMany) }
        var updated = options
        try updated.apply(optionsUpdate: #"{"type":"options_update","payload":{"wantedCollections":[],"wantedDids":[]}}"#)
        #expect(updated.collections.isEmpty && updated.prefixes.isEmpty && updated.dids.isEmpty)
        #expect(throws: SubscribeOptions.Invalid.self) { try updated.apply(optionsUpdate: #"{"type":"options_update","payload":{"wantedDids":[1]}}"#) }
    }
}
