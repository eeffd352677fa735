import Foundation
import Testing
import XRPCClient

/// The XRPC client against a real PDS (arroba, lexicon-validating) on loopback.
@Suite(.serialized) struct XRPCClientTests {
    @Test func logsIn() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        let session = try await client.login()
        #expect(session.did == pds.botDID)
        #expect(session.handle == "bot.test")
        #expect(try await client.getRecord(repo: pds.botDID, collection: "app.bsky.feed.post", rkey: "3kaaaaaaaaaa2", as: JSONAny.self) == nil)
        #expect(try await client.resolveHandle("bot.test") == pds.botDID)
        #expect(await client.stats.requests == 3)
    }

    /// arroba's server (werkzeug) closes every connection, so reuse is shown against
    /// Python's own HTTP/1.1 server, which keeps connections alive.
    @Test func keepsItsConnectionAliveBetweenRequests() async throws {
        let script = """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def do_GET(self):
                    body = b'{"did":"did:web:keepalive.test"}'
                    self.send_response(200); self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-c", script]
        let output = Pipe()
        server.standardOutput = output
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL) }
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        let port = try #require(Int(line.trimmingCharacters(in: .whitespacesAndNewlines)))
        let client = try XRPCClient(service: "http://127.0.0.1:\(port)", credentials: nil)
        for _ in 0..<3 { #expect(try await client.resolveHandle("keepalive.test") == "did:web:keepalive.test") }
        let stats = await client.stats
        #expect(stats.requests == 3)
        #expect(stats.newConnections == 1)
    }

    @Test func aWrongPasswordIsATypedError() async throws {
        let pds = try TestPDS()
        let client = try pds.client(password: "wrong")
        await #expect {
            try await client.login()
        } throws: { error in
            guard let error = error as? XRPCError else { return false }
            return error.status == 401 && error.errorName == "AuthenticationRequired" && !error.isTransient
        }
    }

    @Test func aPostWithFacetsReadsBackWithTheExactByteOffsets() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        var builder = RichTextBuilder()
        builder.text("Félicitations 🎉👩‍👩‍👧 ")
        builder.mention("@alice.test", did: "did:plc:alice0000000000000000000")
        builder.text(" — 日本語 مرحبا ")
        builder.link("bothost.dev/levels", uri: "https://bothost.dev/levels")
        builder.text(" ")
        builder.tag("#niveau", tag: "niveau")
        let rich = builder.build()
        #expect(rich.facets.map(\.index.byteStart) == [38, 75, 94])  // from the atproto SDK's TextBuilder
        #expect(rich.facets.map(\.index.byteEnd) == [49, 93, 101])
        let ref = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil,
                                                record: PostRecord(text: rich.text, facets: rich.facets, createdAt: WallClock.iso8601(us: WallClock.nowUS())))
        let rkey = String(ref.uri.split(separator: "/").last!)
        let read = try #require(try await client.getRecord(repo: pds.botDID, collection: "app.bsky.feed.post", rkey: rkey, as: PostRecord.self))
        #expect(read.value.text == rich.text)
        #expect(read.value.facets == rich.facets)
        #expect(read.cid == ref.cid)
        // Each facet's bytes are exactly the segment it annotates.
        let bytes = Array(read.value.text.utf8)
        let annotated = read.value.facets!.map { String(decoding: bytes[$0.index.byteStart..<$0.index.byteEnd], as: UTF8.self) }
        #expect(annotated == ["@alice.test", "bothost.dev/levels", "#niveau"])
    }

    @Test func aReplyKeepsItsReferences() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        let now = WallClock.iso8601(us: WallClock.nowUS())
        let root = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil, record: PostRecord(text: "root", createdAt: now))
        let parent = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil,
                                                   record: PostRecord(text: "parent", reply: ReplyRef(root: root, parent: root), createdAt: now))
        let reply = ReplyRef(root: root, parent: parent)
        let ref = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil, record: PostRecord(text: "reply", reply: reply, createdAt: now))
        let read = try #require(try await client.getRecord(repo: pds.botDID, collection: "app.bsky.feed.post",
                                                           rkey: String(ref.uri.split(separator: "/").last!), as: PostRecord.self))
        #expect(read.value.reply == reply)
    }

    @Test func anExplicitRecordKeyIsNeverWrittenTwice() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        let rkey = TID(microseconds: 1_795_000_000_000_000, clockID: 7).description
        let post = PostRecord(text: "once", createdAt: WallClock.iso8601(us: WallClock.nowUS()))
        let first = try await client.createRecord(collection: "app.bsky.feed.post", rkey: rkey, record: post)
        #expect(first.uri == "at://\(pds.botDID)/app.bsky.feed.post/\(rkey)")
        await #expect {
            _ = try await client.createRecord(collection: "app.bsky.feed.post", rkey: rkey, record: post)
        } throws: { error in
            (error as? XRPCError)?.status == 400 && (error as? XRPCError)?.isTransient == false
        }
        #expect(try await pds.botPosts().count == 1)
    }

    @Test func anExpiredTokenIsRefreshedAndTheCallRepeated() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        try await client.login()
        try await pds.post("/_control/faults", #"{"expire_tokens": true}"#)
        let ref = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil,
                                                record: PostRecord(text: "after refresh", createdAt: WallClock.iso8601(us: WallClock.nowUS())))
        #expect(ref.uri.hasPrefix("at://\(pds.botDID)/"))
        let stats = await client.stats
        #expect(stats.refreshes == 1)
        #expect(stats.logins == 1)
    }

    @Test func aDeadRefreshTokenLogsInAgain() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        try await client.login()
        try await pds.post("/_control/faults", #"{"expire_tokens": true}"#)
        try await pds.post("/_control/faults", #"{"revoke_refresh": true}"#)
        _ = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil,
                                          record: PostRecord(text: "after login", createdAt: WallClock.iso8601(us: WallClock.nowUS())))
        let stats = await client.stats
        #expect(stats.logins == 2)
        #expect(try await pds.botPosts().count == 1)
    }

    @Test func a429WithRateLimitHeadersIsWaitedOut() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        try await client.login()
        try await pds.post("/_control/faults", #"{"rate_limit": {"count": 1, "reset_in": 1}}"#)
        _ = try await client.createRecord(collection: "app.bsky.feed.post", rkey: TID(microseconds: 1_795_000_000_000_001, clockID: 1).description,
                                          record: PostRecord(text: "waited", createdAt: WallClock.iso8601(us: WallClock.nowUS())))
        let stats = await client.stats
        #expect(stats.rateLimitWaits == 1)
        #expect(try await pds.botPosts().count == 1)
    }

    @Test func aLongRateLimitIsHandedToTheCallerWithItsHeaders() async throws {
        let pds = try TestPDS()
        let client = try pds.client(retry: RetryPolicy(maxAttempts: 2, baseDelayMS: 10, maxDelayMS: 20, maxRateLimitWaitSeconds: 0))
        try await client.login()
        try await pds.post("/_control/faults", #"{"rate_limit": {"count": 1, "reset_in": 120}}"#)
        await #expect {
            _ = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil,
                                              record: PostRecord(text: "later", createdAt: WallClock.iso8601(us: WallClock.nowUS())))
        } throws: { error in
            guard let error = error as? XRPCError, let limit = error.rateLimit else { return false }
            return error.status == 429 && limit.remaining == 0 && (limit.reset ?? 0) > WallClock.nowUS() / 1_000_000 + 60
        }
        #expect(try await pds.botPosts().isEmpty)
    }

    @Test func serverErrorsAreRetriedWithBackoffForIdempotentCalls() async throws {
        let pds = try TestPDS()
        let client = try pds.client()
        try await client.login()
        try await pds.post("/_control/faults", #"{"status": 503, "count": 2}"#)
        let ref = try await client.createRecord(collection: "app.bsky.feed.post", rkey: TID(microseconds: 1_795_000_000_000_002, clockID: 2).description,
                                                record: PostRecord(text: "third time", createdAt: WallClock.iso8601(us: WallClock.nowUS())))
        #expect(ref.uri.hasSuffix(TID(microseconds: 1_795_000_000_000_002, clockID: 2).description))
        let stats = await client.stats
        #expect(stats.retries == 2)
        // Without an explicit key a create is not repeated after a 5xx (it may have landed).
        try await pds.post("/_control/faults", #"{"status": 502, "count": 1}"#)
        await #expect {
            _ = try await client.createRecord(collection: "app.bsky.feed.post", rkey: nil,
                                              record: PostRecord(text: "maybe", createdAt: WallClock.iso8601(us: WallClock.nowUS())))
        } throws: { error in (error as? XRPCError)?.status == 502 }
    }

    @Test func aDirectMessageGoesThroughTheChatProxy() async throws {
        let pds = try TestPDS(["--account", "bot.test:bot-pass", "--account", "alice.test:alice-pass"])
        let client = try pds.client()
        let alice = pds.accounts[1].did
        let convo = try await client.getConvoForMembers([alice])
        let message = try await client.sendMessage(convoID: convo.id, text: "You reached level 5!", facets: nil)
        #expect(message.text == "You reached level 5!")
        let sent = try await pds.get("/_control/messages") as? [[String: Any]] ?? []
        #expect(sent.count == 1)
        #expect(sent.first?["convoId"] as? String == convo.id)
    }

    @Test func profilesAndHandlesResolve() async throws {
        let pds = try TestPDS(["--account", "bot.test:bot-pass", "--account", "alice.test:alice-pass"])
        let client = try pds.client()
        #expect(try await client.resolveHandle("alice.test") == pds.accounts[1].did)
        let profile = try await client.getProfile(pds.accounts[1].did)
        #expect(profile.handle == "alice.test")
    }

    @Test func plainHTTPIsRefusedOffLoopbackAndSecretsNeverPrint() throws {
        #expect(throws: XRPCError.self) { try XRPCClient(service: "http://pds.example.com", credentials: nil) }
        #expect(throws: Never.self) { try XRPCClient(service: "http://127.0.0.1:1", credentials: nil) }
        #expect(throws: Never.self) { try XRPCClient(service: "https://bsky.social", credentials: nil) }
        let credentials = Credentials(identifier: "bot.test", password: Secret("hunter2-app-password"))
        for text in ["\(credentials)", String(describing: credentials), String(reflecting: credentials),
                     "\(credentials.password)", String(reflecting: credentials.password)] {
            #expect(!text.contains("hunter2"))
        }
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains("hunter2"))
    }

    @Test func aServerThatIsDownIsATransientTransportError() async throws {
        let client = try XRPCClient(service: "http://127.0.0.1:9", credentials: Credentials(identifier: "x", password: Secret("y")),
                                    retry: RetryPolicy(maxAttempts: 2, baseDelayMS: 10, maxDelayMS: 20))
        await #expect {
            try await client.login()
        } throws: { error in
            guard case .transport(let transport)? = error as? XRPCError else { return false }
            return transport.kind == .connect && (error as! XRPCError).isTransient
        }
    }
}
