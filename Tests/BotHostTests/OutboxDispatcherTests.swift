import BotHost
import BotHostConfig
import BotHostSQLite
import Foundation
import GRDB
import Plugins
import Testing
import XRPCClient

/// The outbox dispatcher posting to a real PDS (arroba) on loopback: exactly once,
/// only for accounts that opted in, within the server's limits.
@Suite(.serialized) struct OutboxDispatcherTests {
    typealias E = Events
    let alice = E.alice, bob = E.bob

    /// A host whose bot is the PDS's bot account; one post reaches level 5.
    private func host(_ pds: TestPDS, postXP: Int = 800) throws -> TestHost {
        var config = BotHostConfiguration()
        config.bot.did = pds.botDID
        config.leveling.amounts.post = postXP
        config.rankings.enabled = false  // ranking announcements have their own tests
        return try TestHost(configuration: config)
    }

    private func dispatcher(_ host: TestHost, _ pds: TestPDS, _ configure: (inout OutboxDispatcher.Options) -> Void = { _ in }) throws -> OutboxDispatcher {
        var options = OutboxDispatcher.Options()
        options.maxAgeUS = 0  // the test events are from 2023
        options.baseBackoffUS = 50_000
        options.maxBackoffUS = 200_000
        configure(&options)
        return OutboxDispatcher(store: host.store, client: try pds.client(), botDID: pds.botDID,
                                progression: host.configuration.leveling.progression, options: options)
    }

    private func command(_ did: String, _ pds: TestPDS, rev: Int, text: String) -> String {
        E.post(did, rev: rev, rkey: E.tid(rev), text: text, facets: E.mentionFacet(pds.botDID))
    }

    private func states(_ host: TestHost, kind: String = "milestone") throws -> [String] {
        try host.store.outboxMessages().filter { $0.kind == kind }.map(\.state)
    }

    private func announcements(_ pds: TestPDS) async throws -> [[String: Any]] {
        try await pds.botPosts().filter { (($0["value"] as? [String: Any])?["text"] as? String)?.contains("reached level") == true }
    }

    @Test func anOptedInMilestoneIsPostedOnceAsAReplyWithAMention() async throws {
        let pds = try TestPDS()
        let host = try host(pds)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), command(alice, pds, rev: 2, text: "@bot opt in")])
        await try dispatcher(host, pds).drain()
        let posts = try await pds.botPosts()
        #expect(posts.count == 2)  // the confirmation and the announcement
        let announcement = try #require(try await announcements(pds).first?["value"] as? [String: Any])
        #expect(announcement["text"] as? String == "@alice.test reached level 5!")
        let facet = try #require((announcement["facets"] as? [[String: Any]])?.first)
        #expect((facet["index"] as? [String: Int]) == ["byteStart": 0, "byteEnd": 11])
        #expect(((facet["features"] as? [[String: Any]])?.first?["did"] as? String) == alice)
        let reply = try #require(announcement["reply"] as? [String: [String: String]])
        #expect(reply["parent"]?["uri"] == E.postURI(alice, E.tid(2)))
        #expect(try states(host) == ["sent"])
        #expect(try states(host, kind: "confirm") == ["sent"])
        // Running again (a restart) posts nothing new.
        await try dispatcher(host, pds).drain()
        #expect(try await pds.botPosts().count == 2)
        let sent = try host.store.outboxMessages(states: ["sent"])
        #expect(sent.allSatisfy { $0.uri?.hasPrefix("at://\(pds.botDID)/app.bsky.feed.post/") == true && $0.cid != nil })
    }

    @Test func noPingIsAStandalonePostWithThePlainHandle() async throws {
        let pds = try TestPDS()
        let host = try host(pds)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), command(alice, pds, rev: 2, text: "@bot no ping")])
        await try dispatcher(host, pds).drain()
        let announcement = try #require(try await announcements(pds).first?["value"] as? [String: Any])
        #expect(announcement["text"] as? String == "alice.test reached level 5!")
        #expect(announcement["facets"] == nil)
        #expect(announcement["reply"] == nil)
    }

    @Test func nothingIsPostedForAccountsThatDidNotOptInOrOptedOutBeforeSending() async throws {
        let pds = try TestPDS()
        let host = try host(pds)
        try host.feed([E.post(bob, rev: 1, rkey: E.tid(1)), command(alice, pds, rev: 2, text: "@bot opt in")])
        try host.feed([command(alice, pds, rev: 3, text: "@bot opt out")])
        await try dispatcher(host, pds).drain()
        #expect(try await pds.botPosts().isEmpty)
        #expect(try states(host) == ["cancelled"])
        #expect(try states(host, kind: "confirm") == ["cancelled"])  // the opt-in's confirmation, never sent
    }

    @Test func announcementsOfOldEventsAreRecordedButNotPosted() async throws {
        let pds = try TestPDS()
        let host = try host(pds)
        try host.feed([command(alice, pds, rev: 1, text: "@bot opt in")])
        await try dispatcher(host, pds) { $0.maxAgeUS = 86_400_000_000 }.drain()
        #expect(try await pds.botPosts().isEmpty)
        #expect(try states(host) == ["skipped"])
        #expect(try host.account(alice)?.milestones == [5])
    }

    @Test func severalMilestonesOfOneAccountBecomeOnePost() async throws {
        let pds = try TestPDS()
        let host = try host(pds, postXP: 4_050)  // level 10 in one post: milestones 5 and 10
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), command(alice, pds, rev: 2, text: "@bot opt in")])
        await try dispatcher(host, pds).drain()
        let texts = try await announcements(pds).compactMap { ($0["value"] as? [String: Any])?["text"] as? String }
        #expect(texts == ["@alice.test reached levels 5 and 10!"])
        let rows = try host.store.outboxMessages().filter { $0.kind == "milestone" }
        #expect(rows.map(\.state) == ["sent", "sent"])
        #expect(Set(rows.map(\.uri)).count == 1)
    }

    @Test func aWriteTheServerAppliedButNeverConfirmedIsNotPostedTwice() async throws {
        let pds = try TestPDS()
        let host = try host(pds)
        try host.feed([command(alice, pds, rev: 1, text: "@bot opt in")])
        try await pds.post("/_control/faults", #"{"lost_response": {"count": 2}}"#)
        await try dispatcher(host, pds).drain()
        #expect(try await pds.botPosts().count == 2)
        #expect(try host.store.outboxMessages().map(\.state) == ["sent", "sent"])
    }

    @Test func aCrashAfterTheServerAcceptedThePostIsRecognisedOnRestart() async throws {
        let pds = try TestPDS()
        let host = try host(pds)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), command(alice, pds, rev: 2, text: "@bot opt in")])
        // A dispatcher that prepared the announcement, counted its attempt, and whose
        // process died right after the server stored the post.
        let first = try dispatcher(host, pds) { $0.mode = .post }
        let message = try #require(try host.store.outboxMessages().first { $0.kind == "milestone" })
        let rkey = try first.deterministicKey(for: message)
        try host.store.prepareOutbox(lead: message.id, members: [message.id], rkey: rkey,
                                     request: #"{"via":"post","post":{"$type":"app.bsky.feed.post","text":"@alice.test reached level 5!","createdAt":"2026-11-25T00:00:00.000Z"}}"#,
                                     nowUS: WallClock.nowUS())
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: WallClock.nowUS(), checks: .none) == .started)
        _ = try await pds.client().createRecord(collection: "app.bsky.feed.post", rkey: rkey,
                                                record: PostRecord(text: "@alice.test reached level 5!", createdAt: "2026-11-25T00:00:00.000Z"))
        // The restarted host finds it under its key instead of posting again.
        await try dispatcher(host, pds).drain()
        #expect(try await announcements(pds).count == 1)
        let row = try #require(try host.store.outboxMessages().first { $0.id == message.id })
        #expect(row.state == "sent")
        #expect(row.uri == "at://\(pds.botDID)/app.bsky.feed.post/\(rkey)")
    }

    /// A post that landed before the host died stays recorded even when the account
    /// deactivates (or opts out) before the dispatcher runs again: the stream's cancel does
    /// not touch a message whose attempt began; the dispatcher finds the post under its key.
    @Test func aCancelAfterAnAttemptBeganLeavesItToTheLookup() async throws {
        let pds = try TestPDS()
        let host = try host(pds)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), command(alice, pds, rev: 2, text: "@bot opt in"),
                       E.identity(bob, handle: "bob.test", time: 3), command(bob, pds, rev: 4, text: "@bot opt in")])
        let first = try dispatcher(host, pds) { $0.mode = .post }
        var keys: [String: String] = [:]
        for message in try host.store.outboxMessages().filter({ $0.kind == "milestone" }) {
            let rkey = try first.deterministicKey(for: message)
            keys[message.did] = rkey
            try host.store.prepareOutbox(lead: message.id, members: [message.id], rkey: rkey,
                                         request: #"{"via":"post","post":{"$type":"app.bsky.feed.post","text":"\#(message.did) reached level 5!","createdAt":"2026-11-25T00:00:00.000Z"}}"#,
                                         nowUS: WallClock.nowUS())
            #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: WallClock.nowUS(), checks: .none) == .started)
        }
        // Alice's attempt landed; Bob's did not. Then both deactivate.
        _ = try await pds.client().createRecord(collection: "app.bsky.feed.post", rkey: try #require(keys[alice]),
                                                record: PostRecord(text: "\(alice) reached level 5!", createdAt: "2026-11-25T00:00:00.000Z"))
        try host.feed([E.account(alice, active: false, status: "deactivated", time: 50), E.account(bob, active: false, status: "deactivated", time: 51)])
        #expect(try states(host) == ["sending", "sending"])
        await try dispatcher(host, pds).drain()
        let rows = try host.store.outboxMessages().filter { $0.kind == "milestone" }
        #expect(rows.first { $0.did == alice }?.state == "sent")
        #expect(rows.first { $0.did == alice }?.uri == "at://\(pds.botDID)/app.bsky.feed.post/\(keys[alice]!)")
        #expect(rows.first { $0.did == bob }?.state == "cancelled")
        #expect(rows.first { $0.did == bob }?.lastError == "account is opted_out")
        // Exactly the one post that landed is on the server.
        #expect(try await pds.botPosts().filter { (($0["value"] as? [String: Any])?["text"] as? String)?.contains("reached level 5") == true }.count == 1)
    }

    @Test func whileTheServerIsDownTheOutboxKeepsEverythingAndDrainsWhenItReturns() async throws {
        var pds = try TestPDS()
        let port = pds.port
        let host = try host(pds)
        try host.feed([command(alice, pds, rev: 1, text: "@bot opt in")])
        let dispatcher = try dispatcher(host, pds)
        pds.stop()
        let pass = await dispatcher.dispatchDue()
        #expect(pass.sent == 0)
        let waiting = try host.store.outboxMessages()
        #expect(waiting.map(\.state) == ["pending", "pending"])
        #expect(waiting.allSatisfy { $0.attempts >= 1 && ($0.lastError ?? "").contains("transport") })
        pds = try TestPDS(port: port)
        await dispatcher.drain()
        #expect(try host.store.outboxMessages().map(\.state) == ["sent", "sent"])
        #expect(try await pds.botPosts().count == 2)
    }

    @Test func theServersRateLimitIsNeverOverrun() async throws {
        // 12 points per 2-second window: four posts' worth; the bot keeps one point spare.
        let pds = try TestPDS(["--write-limit", "12", "--write-window", "2"])
        let host = try host(pds)
        let dids = (0..<4).map { "did:plc:ratelimit\($0)000000000000000000" }
        try host.feed(dids.enumerated().map { command($1, pds, rev: $0 + 1, text: "@bot opt in") })
        await try dispatcher(host, pds).drain()
        #expect(try host.store.outboxMessages().map(\.state) == Array(repeating: "sent", count: 8))
        #expect(try await pds.botPosts().count == 8)
        let stats = try await pds.stats()
        #expect(stats["overruns"] as? Int == 0)
        let log = try await pds.get("/_control/log") as? [[String: Any]] ?? []
        #expect(!log.contains { $0["status"] as? Int == 429 })
    }

    @Test func aRankingEntryIsAnnouncedAsAStandalonePostWithTheMention() async throws {
        let pds = try TestPDS()
        var config = BotHostConfiguration()
        config.bot.did = pds.botDID
        config.consent.confirmCommands = false
        config.rankings.thresholds = [1]
        let host = try TestHost(configuration: config)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), command(alice, pds, rev: 2, text: "@bot opt in"),
                       E.post(bob, rev: 3, rkey: E.tid(3)),
                       // The stream passes the next minute boundary: the ranks are decided.
                       E.identity("did:plc:tick00000000000000000000", handle: "tick.test", time: 2 * 60_000_000)])
        await try dispatcher(host, pds).drain()
        let posts = try await pds.botPosts().compactMap { $0["value"] as? [String: Any] }
        #expect(posts.compactMap { $0["text"] as? String } == ["@alice.test is the new #1 of the day!"])
        #expect(posts.first?["reply"] == nil)
        let facet = try #require((posts.first?["facets"] as? [[String: Any]])?.first)
        #expect(((facet["features"] as? [[String: Any]])?.first?["did"] as? String) == alice)
    }

    @Test func dmModeSendsAChatMessageWithTheMention() async throws {
        // The chat service needs the recipient to be an account it knows.
        let pds = try TestPDS(["--account", "bot.test:bot-pass", "--account", "alice.test:alice-pass"])
        let host = try host(pds)
        let alice = pds.accounts[1].did
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), command(alice, pds, rev: 2, text: "@bot opt in")])
        await try dispatcher(host, pds) { $0.mode = .dm }.drain()
        let messages = try await pds.get("/_control/messages") as? [[String: Any]] ?? []
        #expect(messages.map { $0["text"] as? String } == ["@alice.test reached level 5!"])
        let milestone = try #require(try host.store.outboxMessages().first { $0.kind == "milestone" })
        #expect(milestone.state == "sent")
        #expect(milestone.uri?.hasPrefix("chat:") == true)
    }
}
