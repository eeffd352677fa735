import BotHost
import Plugins
import GRDB
import Testing

@Suite struct ConsentAndLifecycleTests {
    typealias E = Events
    let alice = E.alice, bob = E.bob

    private func botHost() throws -> TestHost {
        var config = BotHostConfiguration()
        config.bot.did = E.bot
        config.leveling.amounts.post = 800  // one post reaches level 5
        return try TestHost(configuration: config)
    }

    private func optIn(_ did: String, rev: Int, text: String = "@bot opt in please") -> String {
        E.post(did, rev: rev, rkey: E.tid(rev), text: text, facets: E.mentionFacet(E.bot))
    }

    @Test func milestoneOfAnOptedInAccountIsQueuedOnce() throws {
        let host = try botHost()
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, rev: 2)])
        #expect(try host.account(alice)?.consent == "opted_in")
        #expect(try host.account(alice)?.milestones == [5])
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'pending'") == 1)
        let payload = try host.store.read { db in try String.fetchOne(db, sql: "SELECT payload FROM outbox") } ?? ""
        #expect(payload.contains(#""text":"@alice.test reached level 5!""#))
        #expect(payload.contains(#""mention":true"#))
        #expect(try host.store.read { db in try String.fetchOne(db, sql: "SELECT key FROM outbox") } == "milestone:\(alice):5")
        // Replaying everything again queues nothing new.
        try host.restart()
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, rev: 2)])
        #expect(try host.count("SELECT count(*) FROM outbox") == 1)
    }

    @Test func accountsThatDidNotOptInGetNoAnnouncement() throws {
        let host = try botHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1))])
        #expect(try host.account(alice)?.milestones == [5])
        #expect(try host.count("SELECT count(*) FROM outbox") == 0)
    }

    @Test func optInWithoutMentioningTheBotDoesNothing() throws {
        let host = try botHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1), text: "opt in", facets: E.mentionFacet(bob))])
        #expect(try host.account(alice)?.consent == "none")
    }

    @Test func optOutCancelsQueuedAnnouncements() throws {
        let host = try botHost()
        try host.feed([optIn(alice, rev: 1)])
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'pending'") == 1)
        try host.feed([optIn(alice, rev: 2, text: "@bot OPT   OUT")])
        #expect(try host.account(alice)?.consent == "opted_out")
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'cancelled'") == 1)
    }

    @Test func noPingAnnouncesWithoutMention() throws {
        let host = try botHost()
        try host.feed([optIn(alice, rev: 1, text: "@bot no ping")])
        #expect(try host.account(alice)?.consent == "no_ping")
        let payload = try host.store.read { db in try String.fetchOne(db, sql: "SELECT payload FROM outbox") } ?? ""
        #expect(payload.contains(#""mention":false"#))
    }

    @Test func blockingTheBotOptsOut() throws {
        let host = try botHost()
        try host.feed([
            optIn(alice, rev: 1, text: "hi bot, opt in"),
            E.commit(alice, rev: 2, op: "create", collection: "app.bsky.graph.block", rkey: E.tid(2),
                     record: #"{"$type":"app.bsky.graph.block","subject":"\#(E.bot)","createdAt":"2026-01-01T00:00:00Z"}"#),
        ])
        #expect(try host.account(alice)?.consent == "opted_out")
    }

    @Test func followOptsInOnlyWhenConfigured() throws {
        let follow = E.commit(alice, rev: 1, op: "create", collection: "app.bsky.graph.follow", rkey: E.tid(1),
                              record: #"{"$type":"app.bsky.graph.follow","subject":"\#(E.bot)","createdAt":"2026-01-01T00:00:00Z"}"#)
        let off = try botHost()
        try off.feed([follow])
        #expect(try off.account(alice)?.consent == "none")
        var config = BotHostConfiguration()
        config.bot.did = E.bot
        config.consent.followOptsIn = true
        let on = try TestHost(configuration: config)
        try on.feed([follow])
        #expect(try on.account(alice)?.consent == "opted_in")
    }

    @Test func deactivationHidesTheAccountAndCancelsAnnouncements() throws {
        let host = try botHost()
        try host.feed([optIn(alice, rev: 1), E.post(bob, rev: 2, rkey: E.tid(2))])
        try host.feed([E.account(alice, active: false, status: "deactivated", time: 100)])
        #expect(try host.account(alice)?.status == "deactivated")
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'cancelled'") == 1)
        #expect(try host.store.top(limit: 10).map(\.did) == [bob])
        try host.feed([E.account(alice, active: true, time: 200)])
        #expect(try host.account(alice)?.status == "active")
        #expect(Set(try host.store.top(limit: 10).map(\.did)) == [alice, bob])
    }

    @Test func replayingAnOlderAccountOrIdentityEventDoesNotRollBack() throws {
        let host = try TestHost()
        try host.feed([
            E.account(alice, active: false, status: "takendown", time: 10),
            E.account(alice, active: true, time: 20),
            E.identity(alice, handle: "old.test", time: 30),
            E.identity(alice, handle: "new.test", time: 40),
        ])
        try host.feed([E.account(alice, active: false, status: "takendown", time: 10), E.identity(alice, handle: "old.test", time: 30)])
        #expect(try host.account(alice)?.status == "active")
        #expect(try host.account(alice)?.handle == "new.test")
        #expect(try host.account("@new.test")?.did == alice)
    }
}
