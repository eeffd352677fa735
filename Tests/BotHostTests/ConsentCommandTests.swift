import BotHost
import BotHostConfig
import BotHostSQLite
import GRDB
import Plugins
import Testing
import XRPCClient

/// Consent commands, their confirmations and their audit trail; the bot's own posts.
@Suite struct ConsentCommandTests {
    typealias E = Events
    let alice = E.alice, bob = E.bob

    private func host(confirm: Bool = true) throws -> TestHost {
        var config = BotHostConfiguration()
        config.bot.did = E.bot
        config.consent.confirmCommands = confirm
        return try TestHost(configuration: config)
    }

    private func command(_ did: String, rev: Int, _ text: String) -> String {
        E.post(did, rev: rev, rkey: E.tid(rev), text: text, facets: E.mentionFacet(E.bot))
    }

    private func confirmations(_ host: TestHost) throws -> [String] {
        try host.store.outboxMessages().filter { $0.kind == "confirm" }.map(\.payload)
    }

    @Test func anOptInIsConfirmedByAReplyToTheCommandPost() throws {
        let host = try host()
        try host.feed([command(alice, rev: 1, "@bot opt in")])
        let rows = try host.store.outboxMessages().filter { $0.kind == "confirm" }
        #expect(rows.count == 1)
        #expect(rows.first?.key == "confirm:\(E.postURI(alice, E.tid(1)))")
        #expect(rows.first?.payload.contains(#""parent_uri":"\#(E.postURI(alice, E.tid(1)))""#) == true)
        #expect(rows.first?.payload.contains("You're in") == true)
        // The same command replayed is not confirmed twice.
        try host.restart()
        try host.feed([command(alice, rev: 1, "@bot opt in")])
        #expect(try confirmations(host).count == 1)
    }

    @Test func anOptOutIsHonouredBySilence() throws {
        let host = try host()
        try host.feed([command(alice, rev: 1, "@bot opt in"), command(alice, rev: 2, "@bot opt out")])
        #expect(try host.account(alice)?.consent == "opted_out")
        #expect(try confirmations(host).count == 1)  // only the opt-in's
    }

    @Test func statusAnswersOptedInAccountsOnly() throws {
        let host = try host()
        try host.feed([command(bob, rev: 1, "@bot status?")])
        #expect(try confirmations(host).isEmpty)  // bob never opted in: the bot does not reply
        #expect(try host.account(bob)?.consent == "none")
        try host.feed([command(alice, rev: 2, "@bot opt in"), command(alice, rev: 3, "@bot status")])
        let texts = try confirmations(host)
        #expect(texts.count == 2)
        #expect(texts.last?.contains("You're opted in to level-up announcements. Level 2, 50 XP.") == true)
    }

    @Test func confirmationsCanBeSwitchedOff() throws {
        let host = try host(confirm: false)
        try host.feed([command(alice, rev: 1, "@bot opt in")])
        #expect(try host.account(alice)?.consent == "opted_in")
        #expect(try confirmations(host).isEmpty)
    }

    @Test func everyConsentChangeIsLoggedWithItsSourceAndTime() throws {
        let host = try host()
        try host.feed([
            command(alice, rev: 1, "@bot opt in"),
            command(alice, rev: 2, "@bot no ping"),
            E.commit(alice, rev: 3, op: "create", collection: "app.bsky.graph.block", rkey: E.tid(3),
                     record: #"{"$type":"app.bsky.graph.block","subject":"\#(E.bot)","createdAt":"2026-01-01T00:00:00Z"}"#),
        ])
        let log = try host.store.read { db in
            try Row.fetchAll(db, sql: "SELECT consent, source, time_us FROM consent_log ORDER BY id").map { [$0[0] as String, $0[1] as String] }
        }
        #expect(log == [
            ["opted_in", E.postURI(alice, E.tid(1))],
            ["no_ping", E.postURI(alice, E.tid(2))],
            ["opted_out", "block:at://\(alice)/app.bsky.graph.block/\(E.tid(3))"],
        ])
    }

    @Test func deactivatingAnAccountOptsItOut() throws {
        let host = try host()
        try host.feed([command(alice, rev: 1, "@bot opt in"), E.account(alice, active: false, status: "deactivated", time: 5)])
        #expect(try host.account(alice)?.consent == "opted_out")
        // Reactivating does not opt back in: only the account owner can.
        try host.feed([E.account(alice, active: true, time: 6)])
        #expect(try host.account(alice)?.consent == "opted_out")
    }

    @Test func noRankLeavesTheLeaderboardsAndRankMeRejoins() throws {
        let host = try host()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1)), E.post(bob, rev: 2, rkey: E.tid(2)), E.post(bob, rev: 3, rkey: E.tid(3))])
        let asOf: Int64 = 1_700_000_000_000_010
        #expect(try host.store.leaderboard(window: .day, asOf: asOf, limit: 10).map(\.did) == [bob, alice])
        try host.feed([command(bob, rev: 4, "@bot no rank please")])
        #expect(try host.store.leaderboard(window: .day, asOf: asOf, limit: 10).map(\.did) == [alice])
        #expect(try host.store.leaderboard(limit: 10).map(\.did) == [alice])
        #expect(try host.account(bob)?.xp == 150)  // still earns XP, just is not ranked
        try host.feed([command(bob, rev: 5, "@bot rank me")])
        #expect(try host.store.leaderboard(limit: 10).map(\.did) == [bob, alice])
    }

    @Test func theBotsOwnPostsEarnNothingAndTriggerNothing() throws {
        let host = try host()
        host.engine.setBot(did: E.bot)
        try host.feed([
            E.post(E.bot, rev: 1, rkey: E.tid(1), text: "@alice reached level 5!"),
            E.like(E.bot, rev: 2, rkey: E.tid(2), subject: E.postURI(alice, E.tid(9))),
            E.post(alice, rev: 3, rkey: E.tid(3)),
        ])
        #expect(try host.xp(E.bot) == 0)
        #expect(try host.xp(alice) == 50)
        #expect(host.engine.context.totals.ownEvents == 2)
    }
}

/// The write budget: local sliding windows, the server's figures, headroom.
@Suite struct WriteBudgetTests {
    let hour: Int64 = 3_600_000_000
    let now: Int64 = 1_800_000_000_000_000

    private func state(_ writes: [(Int64, Int)], remaining: Int? = nil, limit: Int? = nil, reset: Int64? = nil) -> WriteBudgetState {
        let day = writes.map { (timeUS: $0.0, points: $0.1) }
        let hourWrites = day.filter { $0.timeUS > now - hour }
        return WriteBudgetState(spentLastHour: hourWrites.reduce(0) { $0 + $1.points }, spentLastDay: day.reduce(0) { $0 + $1.points },
                                hourWrites: hourWrites, dayWrites: day, serverRemaining: remaining, serverLimit: limit, serverReset: reset)
    }

    @Test func spendsUpToTheHourlyBudgetLessTheHeadroom() {
        let budget = WriteBudget(hourlyPoints: 5_000, dailyPoints: 35_000, headroomPercent: 10)
        // 4,497 points spent: one more create (3) reaches exactly 4,500, the usable share.
        let spent = state([(now - hour / 2, 4_497)])
        #expect(budget.waitUntil(points: 3, state: spent, nowUS: now) == nil)
        let full = state([(now - hour / 2, 4_498)])
        // Waits until that write leaves the sliding hour.
        #expect(budget.waitUntil(points: 3, state: full, nowUS: now) == now - hour / 2 + hour + 1)
    }

    @Test func theDailyBudgetHoldsAcrossHours() {
        let budget = WriteBudget(hourlyPoints: 5_000, dailyPoints: 35_000, headroomPercent: 10)
        let writes = (1...8).map { (now - Int64($0) * 2 * hour, 4_000) }  // 32,000 over the day, none this hour
        let until = budget.waitUntil(points: 3, state: state(writes), nowUS: now)
        #expect(until == now - 16 * hour + 24 * hour + 1)  // the oldest write must age out of the day
    }

    @Test func theServersRemainingCountWinsWhileItsWindowLasts() {
        let budget = WriteBudget(hourlyPoints: 5_000, dailyPoints: 35_000, headroomPercent: 10)
        let resetS = now / 1_000_000 + 600
        // Locally nothing spent, but the server says 500 of 5,000 are left: keep 10% spare.
        #expect(budget.waitUntil(points: 3, state: state([], remaining: 500, limit: 5_000, reset: resetS), nowUS: now) == (resetS + 1) * 1_000_000)
        // Locally over budget, but the server has room: the server wins.
        #expect(budget.waitUntil(points: 3, state: state([(now - 10, 4_600)], remaining: 4_000, limit: 5_000, reset: resetS), nowUS: now) == nil)
        // A stale window (reset passed) falls back to the local count.
        #expect(budget.waitUntil(points: 3, state: state([], remaining: 0, limit: 5_000, reset: now / 1_000_000 - 1), nowUS: now) == nil)
    }
}
