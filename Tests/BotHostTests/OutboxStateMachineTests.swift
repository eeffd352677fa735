import BotHost
import BotHostConfig
import BotHostSQLite
import Foundation
import GRDB
import Plugins
import Testing
import XRPCClient

/// The outbox state machine (docs/outbox.md): every transition is guarded in SQL, and the
/// account's consent is checked again in the transaction that moves a message to sending.
@Suite(.serialized) struct OutboxStateMachineTests {
    typealias E = Events
    let alice = E.alice

    private func host(botDID: String = E.bot) throws -> TestHost {
        var config = BotHostConfiguration()
        config.bot.did = botDID
        config.leveling.amounts.post = 800
        config.rankings.enabled = false
        config.consent.confirmCommands = false
        return try TestHost(configuration: config)
    }

    private func optIn(_ did: String, bot: String = E.bot, rev: Int) -> String {
        E.post(did, rev: rev, rkey: E.tid(rev), text: "@bot opt in", facets: E.mentionFacet(bot))
    }

    private func milestone(_ host: TestHost) throws -> OutboxMessage {
        try #require(try host.store.outboxMessages().first { $0.kind == "milestone" })
    }

    @Test func transitionsOutOfTheirStateAreRefused() throws {
        let host = try host()
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, rev: 2)])
        let message = try milestone(host)
        let announce = SendChecks(announcement: true, mentions: true)
        // A cancelled message can neither begin an attempt nor be marked sent.
        #expect(try host.store.cancelOutbox(ids: [message.id], actor: "mod", reason: "test", nowUS: 1) == 1)
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: 2, checks: announce) == .notPending)
        try host.store.markSent(message.id, uri: "at://x/app.bsky.feed.post/y", cid: nil, nowUS: 3)
        #expect(try milestone(host).state == "cancelled")
        #expect(try milestone(host).attempts == 0)
        // Retried by a moderator it is pending again, and begins once.
        #expect(try host.store.retryOutbox(ids: [message.id], allFailed: false, actor: "mod", nowUS: 4) == 1)
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: 5, checks: announce) == .started)
        #expect(try milestone(host).state == "sending")
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: 6, checks: announce) == .notPending)
        // A dispatcher that died mid-send: the next one finds it pending, attempt counted.
        #expect(try host.store.recoverSending(nowUS: 7) == 1)
        #expect(try milestone(host).state == "pending")
        #expect(try milestone(host).attempts == 1)
    }

    @Test func consentIsCheckedAgainInTheTransactionThatStartsTheSend() throws {
        let host = try host()
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, rev: 2)])
        let message = try milestone(host)
        // What the stream wrote after the message was queued, from another connection as
        // the host's writer would.
        let writer = try DatabaseQueue(path: host.dbPath)
        func set(_ column: String, _ value: String) throws {
            try writer.write { db in try db.execute(sql: "UPDATE accounts SET \(column) = ? WHERE did = ?", arguments: [value, alice]) }
        }
        let announce = SendChecks(announcement: true, mentions: true)
        try set("consent", "no_ping")
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: 1, checks: announce) == .consentChanged)
        try set("consent", "opted_out")
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: 2, checks: announce) == .notAllowed("account is opted_out"))
        try set("consent", "opted_in")
        try set("status", "deactivated")
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: 3, checks: announce) == .notAllowed("account is deactivated"))
        #expect(try milestone(host).state == "pending")
        #expect(try milestone(host).attempts == 0)
        try set("status", "active")
        #expect(try host.store.beginAttempt(message.id, points: 3, nowUS: 4, checks: announce) == .started)
    }

    @Test func aModeratorsRetryKeepsTheAttemptSoADMIsNotSentTwice() throws {
        let host = try host()
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, rev: 2)])
        let message = try milestone(host)
        try host.store.prepareOutbox(lead: message.id, members: [message.id], rkey: "3kaaaaaaaaa22",
                                     request: #"{"via":"dm","recipient":"\#(alice)","text":"hi","mentions":true}"#, nowUS: 1)
        #expect(try host.store.beginAttempt(message.id, points: 0, nowUS: 2, checks: SendChecks(announcement: true, mentions: true)) == .started)
        try host.store.markRetry(message.id, error: "timeout", nextAtUS: 3, fail: true, nowUS: 3)
        #expect(try milestone(host).state == "failed")
        #expect(try host.store.retryOutbox(ids: [], allFailed: true, actor: "mod", nowUS: 4) == 1)
        let again = try milestone(host)
        #expect(again.state == "pending")
        #expect(again.attempts == 1)  // the dispatcher sees an attempt that may have landed
    }

    /// Against the real PDS: prepared with a mention, the account turns on no-ping before
    /// the send; the post goes out without the mention (prepared again).
    @Test func aSwitchToNoPingAfterPreparationIsPostedWithoutTheMention() async throws {
        let pds = try TestPDS()
        let host = try host(botDID: pds.botDID)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, bot: pds.botDID, rev: 2)])
        let message = try milestone(host)
        var options = OutboxDispatcher.Options()
        options.maxAgeUS = 0
        let dispatcher = OutboxDispatcher(store: host.store, client: try pds.client(), botDID: pds.botDID,
                                          progression: host.configuration.leveling.progression, options: options)
        let rkey = try dispatcher.deterministicKey(for: message)
        try host.store.prepareOutbox(lead: message.id, members: [message.id], rkey: rkey,
                                     request: #"{"via":"post","mentions":true,"post":{"$type":"app.bsky.feed.post","text":"@alice.test reached level 5!","createdAt":"2026-11-25T00:00:00.000Z","facets":[{"index":{"byteStart":0,"byteEnd":11},"features":[{"$type":"app.bsky.richtext.facet#mention","did":"\#(alice)"}]}]}}"#,
                                     nowUS: WallClock.nowUS())
        try host.feed([E.post(alice, rev: 3, rkey: E.tid(3), text: "@bot no ping", facets: E.mentionFacet(pds.botDID))])
        await dispatcher.drain()
        let posts = try await pds.botPosts().compactMap { $0["value"] as? [String: Any] }.filter { ($0["text"] as? String)?.contains("reached level") == true }
        #expect(posts.count == 1)
        #expect(posts.first?["text"] as? String == "alice.test reached level 5!")
        #expect(posts.first?["facets"] == nil)
        #expect(try milestone(host).state == "sent")
    }
}

extension OutboxStateMachineTests {
    /// The post that reached the milestone is deleted before the announcement goes out:
    /// the announcement is a top-level post, not a reply to a post that is gone.
    @Test func aReplyWhoseParentWasDeletedBecomesATopLevelPost() async throws {
        let pds = try TestPDS()
        let host = try host(botDID: pds.botDID)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, bot: pds.botDID, rev: 2)])
        let payload = try milestone(host).payload
        #expect(payload.contains(E.postURI(alice, E.tid(2))))  // queued as a reply to that post
        try host.feed([E.delete(alice, rev: 3, collection: "app.bsky.feed.post", rkey: E.tid(2))])
        var options = OutboxDispatcher.Options()
        options.maxAgeUS = 0
        await OutboxDispatcher(store: host.store, client: try pds.client(), botDID: pds.botDID,
                               progression: host.configuration.leveling.progression, options: options).drain()
        let posts = try await pds.botPosts().compactMap { $0["value"] as? [String: Any] }.filter { ($0["text"] as? String)?.contains("reached level") == true }
        #expect(posts.count == 1)
        #expect(posts.first?["reply"] == nil)
        #expect(try milestone(host).state == "sent")
    }

    @Test func aReplyToALivePostStaysAReply() async throws {
        let pds = try TestPDS()
        let host = try host(botDID: pds.botDID)
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, bot: pds.botDID, rev: 2)])
        var options = OutboxDispatcher.Options()
        options.maxAgeUS = 0
        await OutboxDispatcher(store: host.store, client: try pds.client(), botDID: pds.botDID,
                               progression: host.configuration.leveling.progression, options: options).drain()
        let posts = try await pds.botPosts().compactMap { $0["value"] as? [String: Any] }.filter { ($0["text"] as? String)?.contains("reached level") == true }
        let parent = (posts.first?["reply"] as? [String: Any])?["parent"] as? [String: Any]
        #expect(parent?["uri"] as? String == E.postURI(alice, E.tid(2)))
    }
}
