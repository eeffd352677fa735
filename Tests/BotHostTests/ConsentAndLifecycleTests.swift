import BotHost
import BotHostConfig
import BotHostSQLite
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
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'pending' AND kind = 'milestone'") == 1)
        let payload = try host.store.read { db in try String.fetchOne(db, sql: "SELECT payload FROM outbox WHERE kind = 'milestone'") } ?? ""
        #expect(payload.contains(#""text":"@alice.test reached level 5!""#))
        #expect(payload.contains(#""mention":true"#))
        #expect(try host.store.read { db in try String.fetchOne(db, sql: "SELECT key FROM outbox WHERE kind = 'milestone'") } == "milestone:\(alice):5")
        // Replaying everything again queues nothing new.
        try host.restart()
        try host.feed([E.identity(alice, handle: "alice.test", time: 1), optIn(alice, rev: 2)])
        #expect(try host.count("SELECT count(*) FROM outbox WHERE kind = 'milestone'") == 1)
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
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'pending' AND kind = 'milestone'") == 1)
        try host.feed([optIn(alice, rev: 2, text: "@bot OPT   OUT")])
        #expect(try host.account(alice)?.consent == "opted_out")
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'cancelled' AND kind = 'milestone'") == 1)
    }

    @Test func noPingAnnouncesWithoutMention() throws {
        let host = try botHost()
        try host.feed([optIn(alice, rev: 1, text: "@bot no ping")])
        #expect(try host.account(alice)?.consent == "no_ping")
        let payload = try host.store.read { db in try String.fetchOne(db, sql: "SELECT payload FROM outbox WHERE kind = 'milestone'") } ?? ""
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
        #expect(try host.count("SELECT count(*) FROM outbox WHERE state = 'cancelled' AND kind = 'milestone'") == 1)
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

    @Test func anAccountEventSentAgainWithItsOldSeqIsDropped() throws {
        let host = try TestHost()
        try host.feed([
            E.account(alice, active: false, status: "deactivated", time: 10, seq: 100),
            E.account(alice, active: true, time: 20, seq: 101),
            E.identity(alice, handle: "new.test", time: 30, seq: 102),
        ])
        // After a failover another Jetstream instance sends the deactivation and an older
        // identity again, stamped with its own (later) time_us: the relay seq drops them.
        try host.restart()
        try host.feed([E.account(alice, active: false, status: "deactivated", time: 50, seq: 100),
                       E.identity(alice, handle: "old.test", time: 60, seq: 99)])
        #expect(try host.account(alice)?.status == "active")
        #expect(try host.account(alice)?.handle == "new.test")
        #expect(host.engine.context.totals.duplicates == 2)
        // A newer seq applies even when its time_us is older than the last applied one.
        try host.feed([E.account(alice, active: false, status: "suspended", time: 5, seq: 103)])
        #expect(try host.account(alice)?.status == "suspended")
        // Events without seq are ordered by time_us, as before.
        try host.feed([E.account(alice, active: true, time: 4, seq: 0)])
        #expect(try host.account(alice)?.status == "suspended")
        try host.feed([E.account(alice, active: true, time: 70, seq: 0)])
        #expect(try host.account(alice)?.status == "active")
    }
}

extension ConsentAndLifecycleTests {
    @Test func deletedAccountsArePurgedAfterRetentionOnTheStreamClock() throws {
        var config = BotHostConfiguration()
        config.bot.did = E.bot
        config.leveling.amounts.post = 800
        let host = try TestHost(configuration: config)
        let day = 86_400_000_000
        let lines = [
            optIn(alice, rev: 1),
            E.identity(alice, handle: "alice.test", time: 2),
            E.post(bob, rev: 3, rkey: E.tid(3)),
            E.account(alice, active: false, status: "deleted", time: 10),
        ]
        try host.feed(lines)
        // Within retention: everything is still there, hidden from the leaderboard.
        try host.feed([E.commit(bob, rev: 4, op: "create", collection: "app.bsky.feed.like", rkey: E.tid(4),
                                record: #"{"subject":{"uri":"at://x/y/z"}}"#, time: 29 * day)])
        #expect(try host.xp(alice) == 800)
        #expect(try host.count("SELECT count(*) FROM outbox WHERE kind = 'milestone'") == 1)
        // 30 days after the deletion (stream time), the next batch purges the rows.
        let later = E.commit(bob, rev: 5, op: "create", collection: "app.bsky.feed.like", rkey: E.tid(5),
                             record: #"{"subject":{"uri":"at://x/y/z"}}"#, time: 30 * day + 10)
        try host.feed([later])
        let purged = try #require(try host.account(alice))
        #expect(purged.xp == 0 && purged.level == 1 && purged.milestones.isEmpty && purged.handle == nil)
        #expect(purged.status == "deleted")
        #expect(try host.count("SELECT count(*) FROM ledger WHERE account_id = \(purged.id)") == 0)
        #expect(try host.count("SELECT count(*) FROM grants WHERE account_id = \(purged.id)") == 0)
        #expect(try host.count("SELECT count(*) FROM outbox") == 0)
        #expect(try host.xp(bob) == 820)
        // Replaying everything after a restart restores nothing of the purged account.
        try host.restart()
        try host.feed(lines + [later])
        #expect(try host.xp(alice) == 0)
        #expect(try host.count("SELECT count(*) FROM ledger WHERE account_id = \(purged.id)") == 0)
    }
}
