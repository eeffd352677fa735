import BotHost
import BotHostSQLite
import Foundation
import Plugins
import Testing

@Suite struct ModerationTests {
    typealias E = Events

    @Test func windowsCountOnlyTheirEventsAndRankByScoreThenDid() throws {
        let host = try TestHost()
        let hour: Int64 = 3_600_000_000
        let base: Int64 = 1_700_000_000_000_000
        // Alice: a post two hours ago and a like now; Bob: a post now; Carol: a post now, deleted now.
        func at(_ offset: Int64, _ line: String) -> String {
            line.replacingOccurrences(of: #""time_us":\d+"#, with: "\"time_us\":\(base + offset)", options: .regularExpression)
        }
        let carol = "did:plc:carol000000000000000000000"
        let dave = "did:plc:dave0000000000000000000000"
        try host.feed([
            at(2 * hour, E.post(dave, rev: 6, rkey: E.tid(6))),
            at(0, E.post(E.alice, rev: 1, rkey: E.tid(1))),
            at(2 * hour, E.like(E.alice, rev: 2, rkey: E.tid(2), subject: E.postURI(E.bob, E.tid(9)))),
            at(2 * hour, E.post(E.bob, rev: 3, rkey: E.tid(3))),
            at(2 * hour, E.post(carol, rev: 4, rkey: E.tid(4))),
            at(2 * hour, E.delete(carol, rev: 5, collection: "app.bsky.feed.post", rkey: E.tid(4))),
        ])
        let asOf = base + 2 * hour
        let lastHour = try host.store.leaderboard(window: .hour, asOf: asOf, limit: 10)
        // Bob and Dave tie at 50: by DID.
        #expect(lastHour.map(\.did) == [E.bob, dave, E.alice])
        #expect(lastHour.map(\.score) == [50, 50, 10])
        #expect(lastHour.map(\.xp) == [50, 50, 60])
        #expect(lastHour.map(\.rank) == [1, 2, 3])
        let lastDay = try host.store.leaderboard(window: .day, asOf: asOf, limit: 10)
        #expect(lastDay.map(\.did) == [E.alice, E.bob, dave])
        #expect(lastDay.map(\.score) == [60, 50, 50])
        #expect(try host.store.leaderboard(window: .day, asOf: asOf, limit: 2).count == 2)
        // The window is (asOf − 1 h, asOf]: an event exactly one hour before as-of is out.
        #expect(try host.store.leaderboard(window: .hour, asOf: base + hour, limit: 10).isEmpty)
        #expect(try host.store.leaderboard(window: .hour, asOf: base + hour - 1, limit: 10).map(\.did) == [E.alice])
    }

    @Test func excludedAndInactiveAccountsAreNotRankedAndEveryActionIsAudited() throws {
        let host = try TestHost()
        try host.feed([E.post(E.alice, rev: 1, rkey: E.tid(1)), E.post(E.bob, rev: 2, rkey: E.tid(2), embed: E.images(["x"]))])
        let asOf = try host.store.cursor()!
        #expect(try host.store.leaderboard(window: .day, asOf: asOf, limit: 10).map(\.did) == [E.bob, E.alice])
        #expect(try host.store.setExcluded(E.bob, excluded: true, actor: "mod", reason: "spam ring"))
        #expect(try host.store.leaderboard(window: .day, asOf: asOf, limit: 10).map(\.did) == [E.alice])
        #expect(try host.store.leaderboard(limit: 10).map(\.did) == [E.alice])
        // The host keeps running and writing: the flag survives its batches.
        try host.feed([E.post(E.bob, rev: 3, rkey: E.tid(3))])
        #expect(try host.store.isExcluded(E.bob))
        #expect(try host.store.setExcluded(E.bob, excluded: false, actor: "mod", reason: "appeal"))
        #expect(try host.store.leaderboard(limit: 10).map(\.did) == [E.bob, E.alice])
        #expect(try host.store.setExcluded("did:plc:nobody", excluded: true, actor: "mod", reason: "") == false)
        let log = try host.store.auditLog(limit: 10)
        #expect(log.map(\.action) == ["include", "exclude"])
        #expect(log.map(\.detail) == ["appeal", "spam ring"])
        #expect(log.allSatisfy { $0.did == E.bob && $0.actor == "mod" })
        try host.feed([E.account(E.alice, active: false, status: "suspended", time: 100)])
        #expect(try host.store.leaderboard(limit: 10).map(\.did) == [E.bob])
    }

    @Test func statusReportsTheCursorAndSizes() throws {
        let host = try TestHost()
        try host.feed([E.post(E.alice, rev: 1, rkey: E.tid(1)), E.like(E.bob, rev: 2, rkey: E.tid(2), subject: E.postURI(E.alice, E.tid(1)))])
        let status = try host.store.status()
        #expect(status.cursorUS == 1_700_000_000_000_002)
        #expect(status.accounts == 2)
        #expect(status.ledgerEntries == 2)
        #expect(status.liveGrants == 2)
        #expect(status.outbox.isEmpty)
    }
}

extension ModerationTests {
    @Test func adjustmentsAndPurgesGoThroughTheHostThatOwnsTheDatabase() throws {
        let host = try TestHost()
        try host.feed([E.post(E.alice, rev: 1, rkey: E.tid(1)), E.post(E.bob, rev: 2, rkey: E.tid(2))])
        // Queued while "the host runs": the replayer applies them at its next batch close.
        let adjust = try host.store.enqueue(.adjust, did: E.alice, amount: 750, reason: "prize", actor: "mod")
        let purge = try host.store.enqueue(.purge, did: E.bob, amount: 0, reason: "privacy request", actor: "mod")
        let unknown = try host.store.enqueue(.adjust, did: "did:plc:nobody", amount: 5, reason: "typo", actor: "mod")
        let capture = host.directory.appendingPathComponent("more.jsonl").path
        try (E.like(E.alice, rev: 3, rkey: E.tid(3), subject: E.postURI(E.bob, E.tid(2))) + "\n").write(toFile: capture, atomically: true, encoding: .utf8)
        try host.replay(capture)
        #expect(try host.xp(E.alice) == 810)
        #expect(try host.account(E.alice)?.milestones == [5])
        #expect(try host.store.command(adjust)?.state == "applied")
        // Applied when the replay's batch closed, after the like in it.
        #expect(try host.store.command(adjust)?.result == "xp 60 → 810, level 5")
        #expect(try host.store.command(unknown)?.result == "unknown account")
        let bob = try #require(try host.account(E.bob))
        #expect(bob.xp == 0 && bob.milestones.isEmpty)
        #expect(try host.store.ledger(account: bob.id, limit: 10).isEmpty)
        #expect(try host.store.command(purge)?.result == "purged")
        #expect(try host.store.auditLog(limit: 10).map(\.action) == ["purge", "adjust"])
        // The adjustment is a ledger entry with its provenance, and survives a restart.
        try host.restart()
        try host.replay(capture)
        #expect(try host.xp(E.alice) == 810)
        let entries = try host.store.ledger(account: try #require(try host.account(E.alice)).id, limit: 10)
        #expect(entries.map(\.kind) == ["adjust", "grant", "grant"])
        #expect(entries[0].rule == "adjust" && entries[0].plugin == "moderation" && entries[0].amount == 750)
        #expect(try host.store.pendingCommands().isEmpty)
    }

    @Test func theHostLockIsExclusive() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("db.sqlite").path
        let first = HostLock(databasePath: path)
        #expect(first != nil)
        #expect(HostLock(databasePath: path) == nil)
        withExtendedLifetime(first) {}
    }
}
