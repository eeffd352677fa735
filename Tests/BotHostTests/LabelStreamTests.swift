import BotHost
import BotHostHTTP
import BotHostLabels
import BotHostSQLite
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOWebSocket
import Testing
import WSClient
import XRPCClient

/// The labeler's endpoints on a real server (docs/labels.md): subscribeLabels frames byte
/// for byte, cursor replay, live follow, `#info OutdatedCursor` after pruning,
/// `FutureCursor`; queryLabels' JSON and its refusals; the service record on a real PDS.
/// Tests/interop/labeler_stream.py reads the same with the atproto SDK and libipld.
@Suite struct LabelStreamTests {
    static let src = "did:plc:labeler000000000000000000"
    static let users = (0..<4).map { "did:plc:user\(String(format: "%021d", $0))" }

    /// A store where four accounts opted in and reached level 2; the labeler's first pass done.
    static func labeled() throws -> (Store, Labeler, LabelSigner) {
        let store = try Store(path: makeTemporaryDirectory().appendingPathComponent("s.sqlite").path)
        var lines: [String] = []
        for (n, did) in users.enumerated() {
            lines.append(LabelerTests.command(did, rev: 100 * n + 1, "opt in"))
            lines += LabelerTests.posts(did, from: 100 * n + 2, count: 1)
        }
        try LabelerTests.feed(lines, into: store)
        let signer = LabelSigner()
        var settings = LabelerConfiguration()
        settings.did = src
        let labeler = try Labeler(configuration: settings, botDID: nil, milestones: [2, 3], signer: signer)
        #expect(try labeler.pass(store).labels == 4)
        return (store, labeler, signer)
    }

    final class Server: Sendable {
        let task: Task<Void, any Error>
        let port: Int
        init(_ api: APIServer) async throws {
            var logger = Logger(label: "test.labels")
            logger.logLevel = .critical
            let (stream, continuation) = AsyncStream<Int>.makeStream()
            task = Task { try await api.application(host: "127.0.0.1", port: 0, logger: logger) { continuation.yield($0) }.runService() }
            var iterator = stream.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestPDSError("the server did not start") }
            self.port = port
        }
        var subscribeURL: String { "ws://127.0.0.1:\(port)/xrpc/com.atproto.label.subscribeLabels" }
        func stop() { task.cancel() }
    }

    /// The binary messages of one connection: `count` of them, or until the server closes.
    /// `action` runs beside the reading (cancelled once the messages are in). A connection
    /// that neither delivers nor closes fails the test after a minute instead of hanging it.
    static func frames(_ url: String, count: Int,
                       beside action: @escaping @Sendable () async throws -> Void = {}) async throws -> [[UInt8]] {
        let logger = {
            var logger = Logger(label: "test.ws")
            logger.logLevel = .critical
            return logger
        }()
        let received = LockedBox<[[UInt8]]>([])
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try await WebSocketClient.connect(url: url, logger: logger) { inbound, outbound, _ in
                    let side = Task { try await action() }
                    defer { side.cancel() }
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        if case let .binary(buffer) = message { received.value.append(Array(buffer: buffer)) }
                        if received.value.count == count { break }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                return false
            }
            let finished = try await group.next() ?? false
            group.cancelAll()
            if !finished { Issue.record("\(url): \(received.value.count) of \(count) messages, then nothing for a minute") }
        }
        return received.value
    }

    @Test func subscribeLabelsReplaysFollowsAndTellsOfPrunedAndFutureCursors() async throws {
        let (store, labeler, _) = try Self.labeled()
        let server = try await Server(APIServer(store: store))
        defer { server.stop() }
        let stored = try store.labels(after: 0, limit: 100)
        #expect(stored.map(\.seq) == [1, 2, 3, 4])

        // From cursor 0: every label, each frame exactly the header and body of its seq.
        let replay = try await Self.frames(server.subscribeURL + "?cursor=0", count: 4)
        #expect(replay == stored.map(LabelFrames.labels))
        // The header is {op: 1, t: "#labels"} in canonical DAG-CBOR (t before op: shorter
        // key first, then bytewise: "t" < "op").
        #expect(Array(replay[0].prefix(11)) == [0xA2, 0x61, 0x74, 0x67] + Array("#labels".utf8))
        // From cursor 2: only 3 and 4.
        #expect(try await Self.frames(server.subscribeURL + "?cursor=2", count: 2) == stored.suffix(2).map(LabelFrames.labels))
        // Percent-encoded, as a client may send it.
        #expect(try await Self.frames(server.subscribeURL + "?cursor=%32", count: 2) == stored.suffix(2).map(LabelFrames.labels))

        // Live, without a cursor: only what is issued after the connection. Labels are issued
        // beside it (an opt-out, an opt-in, …) until one arrives: whichever it is, it is newer
        // than the four stored when the connection was made, and it is the stored label of its
        // number, byte for byte.
        let live = try await Self.frames(server.subscribeURL, count: 1) {
            for n in 0..<200 {
                try LabelerTests.feed([LabelerTests.command(Self.users[0], rev: 50 + n, n % 2 == 0 ? "opt out" : "opt in")], into: store)
                try labeler.pass(store)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let first = try #require(live.first)
        let issuedSince = try store.labels(after: 4, limit: 1_000)
        #expect(issuedSince.map(LabelFrames.labels).contains(first))
        #expect(!stored.map(LabelFrames.labels).contains(first))
        // Bring alice back to no label, for what follows.
        if try store.account(Self.users[0])?.consent != "opted_out" {
            try LabelerTests.feed([LabelerTests.command(Self.users[0], rev: 300, "opt out")], into: store)
            try labeler.pass(store)
        }
        let last = try store.labelSequence().last

        // Pruned: a cursor below what is gone is told so, then gets what is kept (the three
        // other accounts' labels; alice carries none).
        #expect(try store.pruneLabels(before: Label.timestamp(Clock.nowMicroseconds() + 60_000_000)) == Int(last) - 3)
        #expect(try store.labels(after: 0, limit: 10).map(\.seq) == [2, 3, 4])
        let outdated = try await Self.frames(server.subscribeURL + "?cursor=0", count: 4)
        #expect(outdated.first == LabelFrames.info(name: "OutdatedCursor", message: "labels up to \(last) were pruned; replaying what is kept"))
        #expect(Array(outdated.dropFirst()) == (try store.labels(after: 0, limit: 10)).map(LabelFrames.labels))

        // A cursor beyond the sequence: an error frame, then the server closes.
        let future = try await Self.frames(server.subscribeURL + "?cursor=\(last + 1)", count: 2)
        #expect(future == [LabelFrames.error("FutureCursor", message: "Cursor in the future.")])
    }

    @Test func queryLabelsAnswersJSONAndRefusesBadRequests() async throws {
        let (store, _, signer) = try Self.labeled()
        let stored = try store.labels(after: 0, limit: 100)
        let app = Application(router: APIServer(store: store).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/xrpc/com.atproto.label.queryLabels?uriPatterns=\(Self.users[1])", method: .get) { response in
                #expect(response.status == .ok)
                let label = stored[1]
                let sig = Data(label.sig).base64EncodedString().replacingOccurrences(of: "=", with: "")
                #expect(String(buffer: response.body) == """
                    {"cursor":"2","labels":[{"ver":1,"src":"\(Self.src)","uri":"\(Self.users[1])","val":"level-two","cts":"\(label.cts)","sig":{"$bytes":"\(sig)"}}]}
                    """)
                #expect(signer.isValidSignature(label.label))
            }
            try await client.execute(uri: "/xrpc/com.atproto.label.queryLabels?uriPatterns=*&limit=2&cursor=2", method: .get) { response in
                let body = try #require(try JSONSerialization.jsonObject(with: Data(Array(buffer: response.body))) as? [String: Any])
                #expect((body["labels"] as? [[String: Any]])?.map { $0["uri"] as? String } == [Self.users[2], Self.users[3]])
                #expect(body["cursor"] as? String == "4")
            }
            try await client.execute(uri: "/xrpc/com.atproto.label.queryLabels?uriPatterns=did:plc:nobody*", method: .get) { response in
                #expect(String(buffer: response.body) == #"{"labels":[]}"#)
            }
            try await client.execute(uri: "/xrpc/com.atproto.label.queryLabels?uriPatterns=*&sources=alice", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body) == #"{"labels":[]}"#)
            }
            for (query, message) in [("", "uriPatterns is required"), ("uriPatterns=*&limit=0", "limit must be between 1 and 250"),
                                     ("uriPatterns=*&limit=251", "limit must be between 1 and 250"),
                                     ("uriPatterns=*&cursor=-1", "invalid cursor"), ("uriPatterns=*&cursor=x", "invalid cursor"),
                                     ("uriPatterns=did:*:x", "invalid pattern"),
                                     ("uriPatterns=*&sources=" + String(repeating: "x", count: 257), "at most 256 characters"),
                                     ("uriPatterns=*" + String(repeating: "&sources=did:plc:x", count: 11), "at most 10 sources"),
                                     (String(repeating: "uriPatterns=*&", count: 11), "at most 10 uriPatterns")] {
                try await client.execute(uri: "/xrpc/com.atproto.label.queryLabels?" + query, method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(String(buffer: response.body).contains(message), "\(query): \(String(buffer: response.body))")
                }
            }
            // Not upgraded: why.
            try await client.execute(uri: "/xrpc/com.atproto.label.subscribeLabels?cursor=abc", method: .get) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("cursor must be a sequence number"))
            }
            try await client.execute(uri: "/xrpc/com.atproto.label.subscribeLabels", method: .get) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("expected a WebSocket upgrade"))
            }
        }
    }

    /// The service record written through the XRPC client to a real PDS (arroba), read back,
    /// and replaced when the tiers change.
    @Test func theServiceRecordIsPublishedAndReplaced() async throws {
        let pds = try TestPDS()
        defer { pds.stop() }
        let client = try pds.client()
        var tiers = LabelerConfiguration().effectiveTiers(milestones: [5, 10])
        tiers[0].locales.append(.init(lang: "ja", name: "レベル5", description: "レベル5に到達しました ✨"))
        let first = try await LabelerServiceRecord(tiers: tiers, createdAt: "2026-12-04T00:00:00.000Z").publish(with: client)
        #expect(first.uri == "at://\(pds.botDID)/app.bsky.labeler.service/self")
        let read = try #require(try await client.getRecord(repo: pds.botDID, collection: LabelerServiceRecord.collection, rkey: "self",
                                                          as: LabelerServiceRecord.self))
        #expect(read.value.policies.labelValues == ["level-five", "level-ten"])
        let definition = try #require(read.value.policies.labelValueDefinitions.first)
        #expect(definition.severity == "inform" && definition.blurs == "none" && definition.defaultSetting == "warn" && !definition.adultOnly)
        #expect(definition.locales.map(\.name) == ["Level 5", "レベル5"])
        #expect(definition.locales.last?.description == "レベル5に到達しました ✨")

        let more = LabelerConfiguration().effectiveTiers(milestones: [5, 10, 25])
        let second = try await LabelerServiceRecord(tiers: more, createdAt: "2026-12-05T00:00:00.000Z").publish(with: client)
        #expect(second.uri == first.uri && second.cid != first.cid)
        let again = try #require(try await client.getRecord(repo: pds.botDID, collection: LabelerServiceRecord.collection, rkey: "self",
                                                           as: LabelerServiceRecord.self))
        #expect(again.value.policies.labelValues == ["level-five", "level-ten", "level-twenty-five"])
    }
}
