import BotHost
import BotHostConfig
import BotHostSQLite
import GRDB
import Plugins
import Testing

/// Ranking-change events with hysteresis, decided when the stream passes a `checkEvery`
/// boundary (here every minute of stream time).
@Suite struct RankEventTests {
    typealias E = Events
    let alice = E.alice, bob = E.bob
    let carol = "did:plc:carol0000000000000000000", dave = "did:plc:dave00000000000000000000"
    let minute = 60_000_000

    private func host() throws -> TestHost {
        var config = BotHostConfiguration()
        config.bot.did = E.bot
        config.consent.confirmCommands = false
        config.rankings.thresholds = [1, 2]
        config.rankings.margin = 1
        config.rankings.leaveAfterUS = 10 * 60_000_000
        config.rankings.checkEveryUS = 60_000_000
        return try TestHost(configuration: config)
    }

    /// `count` posts of `did` at `time` (µs after the test epoch), revs from `rev`.
    private func posts(_ did: String, _ count: Int, rev: Int, time: Int) -> [String] {
        (0..<count).map { i in
            E.commit(did, rev: rev + i, op: "create", collection: "app.bsky.feed.post", rkey: E.tid(rev + i),
                     record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"hi"}"#, time: time + i)
        }
    }

    /// The lines, then an event a minute after `time` (an identity event of an account
    /// with no XP): the stream passes a check boundary after the lines.
    private func then(_ lines: [String], tick time: Int) -> [String] {
        lines + [E.identity("did:plc:tick00000000000000000000", handle: "tick.test", time: time + minute + 1)]
    }

    private func events(_ host: TestHost) throws -> [String] {
        try host.store.read { db in
            try Row.fetchAll(db, sql: """
                SELECT e.kind, e.threshold, a.did FROM rank_events e JOIN accounts a ON a.id = e.account_id ORDER BY e.id
                """).map { "\($0[0] as String) \($0[1] as Int) \(($0[2] as String).dropFirst(8).prefix(5))" }
        }
    }

    @Test func entriesAreImmediateAndExitsWaitOutTheMarginAndTheDelay() throws {
        let host = try host()
        try host.feed(then(posts(alice, 3, rev: 1, time: 1) + posts(bob, 2, rev: 10, time: 1) + posts(carol, 1, rev: 20, time: 1), tick: 1))
        #expect(try events(host) == ["entered 1 alice", "entered 2 alice", "entered 2 bob00"])
        // Carol overtakes both: alice (2nd) and bob (3rd) stay within top N + margin.
        try host.feed(then(posts(carol, 5, rev: 30, time: 2 * minute), tick: 2 * minute))
        #expect(try events(host).suffix(2) == ["entered 1 carol", "entered 2 carol"])
        // Dave overtakes everyone: alice (3rd) and bob (4th) fall out of range, but only
        // leave once they have stayed out for 10 minutes.
        try host.feed(then(posts(dave, 8, rev: 40, time: 4 * minute), tick: 4 * minute))
        #expect(try events(host).suffix(2) == ["entered 1 dave0", "entered 2 dave0"])
        try host.feed(then(posts(dave, 1, rev: 60, time: 10 * minute), tick: 10 * minute))
        #expect(try events(host).count == 7)
        try host.feed(then(posts(dave, 1, rev: 70, time: 15 * minute), tick: 15 * minute))
        #expect(try events(host).suffix(2) == ["left 1 alice", "left 2 bob00"])
        // Membership survives a restart: nobody re-enters.
        try host.restart()
        try host.feed(then(posts(dave, 1, rev: 80, time: 17 * minute), tick: 17 * minute))
        #expect(try events(host).count == 9)
    }

    @Test func aBriefDipBelowTheBoundaryIsNotAnExit() throws {
        let host = try host()
        try host.feed(then(posts(alice, 3, rev: 1, time: 1) + posts(bob, 2, rev: 10, time: 1), tick: 1))
        try host.feed(then(posts(carol, 4, rev: 20, time: 2 * minute) + posts(dave, 4, rev: 30, time: 2 * minute), tick: 2 * minute))  // alice 3rd, bob 4th
        try host.feed(then(posts(alice, 3, rev: 40, time: 5 * minute) + posts(bob, 3, rev: 50, time: 5 * minute), tick: 5 * minute))  // back on top
        try host.feed(then(posts(carol, 1, rev: 60, time: 20 * minute), tick: 20 * minute))
        let all = try events(host)
        #expect(!all.contains("left 1 alice") && !all.contains("left 2 bob00"))
        // Carol and dave, overtaken at 5 min and out of range since, did leave.
        #expect(all.suffix(2) == ["left 1 carol", "left 2 dave0"])
    }

    @Test func onlyOptedInAccountsAreAnnouncedOncePerEntry() throws {
        let host = try host()
        var lines = posts(alice, 3, rev: 1, time: 1) + posts(bob, 2, rev: 10, time: 1)
        lines.insert(E.post(alice, rev: 0, rkey: E.tid(0), text: "@bot opt in", facets: E.mentionFacet(E.bot)), at: 0)
        try host.feed(then(lines, tick: 1))
        let rows = try host.store.outboxMessages().filter { $0.kind == "rank" }
        #expect(rows.count == 1)  // alice's best entry (#1), not also the top 2; bob never opted in
        #expect(rows.first?.did == alice)
        #expect(rows.first?.payload.contains(#""template":"{handle} is the new #1 of the {window}!""#) == true)
        try host.restart()
        try host.feed(then(posts(alice, 1, rev: 30, time: 3 * minute), tick: 3 * minute))
        #expect(try host.store.outboxMessages().filter { $0.kind == "rank" }.count == 1)
    }

    @Test func changesDoNotDependOnBatchBoundariesOrRestarts() throws {
        // Five accounts posting in turns over 40 minutes of stream time.
        let dids = [alice, bob, carol, dave, "did:plc:erin00000000000000000000"]
        var lines = [E.post(alice, rev: 0, rkey: E.tid(0), text: "@bot opt in", facets: E.mentionFacet(E.bot))]
        var rev = 1
        for step in 0..<200 {
            let did = dids[(step * 7 + step / 13) % dids.count]
            lines += posts(did, 1 + step % 3, rev: rev, time: step * 12_000_000 + 1)
            rev += 3
        }
        func outcome(batch: Int, restartEvery: Int? = nil) throws -> [String] {
            let host = try host()
            for (index, start) in stride(from: 0, to: lines.count, by: batch).enumerated() {
                try host.feed(Array(lines[start..<min(lines.count, start + batch)]))
                if let every = restartEvery, index % every == every - 1 { try host.restart() }
            }
            let outbox = try host.store.outboxMessages().filter { $0.kind == "rank" }.map(\.key)
            return try events(host) + outbox.sorted()
        }
        let whole = try outcome(batch: lines.count)
        #expect(whole.count > 6)
        #expect(try outcome(batch: 7) == whole)
        #expect(try outcome(batch: 50, restartEvery: 2) == whole)
    }

    @Test func accountsOffTheBoardsAreNotRanked() throws {
        let host = try host()
        try host.feed(then([E.post(bob, rev: 0, rkey: E.tid(0), text: "@bot no rank", facets: E.mentionFacet(E.bot))]
                      + posts(bob, 5, rev: 1, time: 1) + posts(alice, 1, rev: 10, time: 1), tick: 1))
        #expect(try events(host) == ["entered 1 alice", "entered 2 alice"])
    }
}

/// The window sums (buckets + ledger edges) against a direct sum over the ledger.
@Suite struct WindowBucketTests {
    typealias E = Events
    let day = 86_400_000_000

    private func direct(_ host: TestHost, from: Int64, to: Int64) throws -> [String: Int64] {
        try host.store.read { db in
            var result: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT a.did, SUM(l.amount) FROM ledger l JOIN accounts a ON a.id = l.account_id
                WHERE l.time_us > ? AND l.time_us <= ? GROUP BY a.did HAVING SUM(l.amount) > 0
                """, arguments: [from, to]) { result[row[0]] = row[1] }
            return result
        }
    }

    @Test func lateEventsOfRolledUpDaysStillCount() throws {
        let host = try TestHost()
        let base = 0
        func post(_ did: String, _ rev: Int, _ time: Int) -> String {
            E.commit(did, rev: rev, op: "create", collection: "app.bsky.feed.post", rkey: E.tid(rev),
                     record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"hi"}"#, time: time)
        }
        // Day 0 and day 3 in separate batches: day 0..2 are rolled up when day 3 arrives.
        try host.feed([post(E.alice, 1, base + 5_000_000), post(E.bob, 2, base + day / 2)])
        try host.feed([post(E.alice, 3, base + 3 * day + 7_000_000)])
        // A late event of day 0 (another account's commits arrive late), after the rollup.
        try host.feed([post(E.bob, 4, base + day / 3), E.delete(E.alice, rev: 5, collection: "app.bsky.feed.post", rkey: E.tid(1))])
        let epoch: Int64 = 1_700_000_000_000_000
        for asOf in [epoch + Int64(3 * day + 8_000_000), epoch + Int64(4 * day + 123), epoch + Int64(day / 2 + 1)] {
            for window in [RankingWindow.day, .week, .month] {
                let board = try host.store.leaderboard(window: window, asOf: asOf, limit: 100)
                let expected = try direct(host, from: asOf - window.microseconds, to: asOf)
                #expect(Dictionary(uniqueKeysWithValues: board.map { ($0.did, $0.score) }) == expected, "\(window) at \(asOf)")
            }
        }
    }
}
