import BotHost
import BotHostConfig
import BotHostPostgres
import BotHostSQLite
import Plugins
import Foundation
import Rules
import Testing

/// Seasons: the calendar's arithmetic, the config's refusals, and the archive each store
/// writes once when the stream passes a season's end.
@Suite struct SeasonTests {
    static func us(_ date: String) -> Int64 { CivilDate.parse(date)! }

    @Test func calendarsNameAndBoundSeasons() {
        let monthly = SeasonCalendar(period: .monthly)
        let dec = monthly.season(containing: Self.us("2026-12-31") + 86_399_999_999)
        #expect(dec == Season(name: "2026-12", startUS: Self.us("2026-12-01"), endUS: Self.us("2027-01-01")))
        #expect(monthly.season(containing: Self.us("2027-01-01"))?.name == "2027-01")
        #expect(monthly.season(named: "2024-02") == Season(name: "2024-02", startUS: Self.us("2024-02-01"), endUS: Self.us("2024-03-01")))
        #expect(monthly.season(named: "2024-13") == nil && monthly.season(named: "2024-2") == nil)
        let quarterly = SeasonCalendar(period: .quarterly)
        #expect(quarterly.season(containing: Self.us("2026-11-15"))
                == Season(name: "2026-Q4", startUS: Self.us("2026-10-01"), endUS: Self.us("2027-01-01")))
        #expect(quarterly.season(named: "2026-Q1")?.endUS == Self.us("2026-04-01"))
        #expect(quarterly.season(named: "2026-Q5") == nil)
        // Leap years and the civil-date round trip.
        #expect(CivilDate.parse("2024-02-29") != nil && CivilDate.parse("2025-02-29") == nil && CivilDate.parse("2026-13-01") == nil)
        for (year, month) in [(1970, 1), (2000, 2), (2024, 12), (2100, 3)] {
            #expect(CivilDate.yearMonth(ofMicroseconds: CivilDate.microseconds(year: year, month: month)) == (year, month))
        }
        #expect(CivilDate.microseconds(year: 2026, month: 12) == 1_796_083_200_000_000)
        // Ended seasons: with the grace, after the last archived end, oldest first.
        var grace = SeasonCalendar(period: .monthly)
        grace.graceUS = 600_000_000
        #expect(grace.ended(by: Self.us("2026-12-01") + 599_999_999, after: Self.us("2026-11-01")).isEmpty)
        #expect(grace.ended(by: Self.us("2026-12-01") + 600_000_000, after: Self.us("2026-11-01")).map(\.name) == ["2026-11"])
        #expect(grace.ended(by: Self.us("2027-02-15"), after: Self.us("2026-11-01")).map(\.name) == ["2026-11", "2026-12", "2027-01"])
        #expect(grace.ended(by: Self.us("2027-02-15"), after: Self.us("2027-01-01")).map(\.name) == ["2027-01"])
        let explicit = SeasonCalendar(period: .explicit([Season(name: "spring", startUS: Self.us("2026-03-01"), endUS: Self.us("2026-06-01")),
                                                         Season(name: "summer", startUS: Self.us("2026-06-01"), endUS: Self.us("2026-09-01"))]))
        #expect(explicit.season(containing: Self.us("2026-02-28")) == nil)
        #expect(explicit.ended(by: Self.us("2026-12-01"), after: 0).map(\.name) == ["spring", "summer"])
    }

    @Test(arguments: [
        ("seasons:\n  period: weekly\n", ":2:11: error: seasons.period must be monthly, quarterly or explicit"),
        ("seasons:\n  period: explicit\n", ":2:3: error: an explicit season calendar needs list"),
        ("seasons:\n  period: explicit\n  list:\n    - {name: a, start: 2026-01-01, end: 2026-03-01}\n    - {name: b, start: 2026-02-01, end: 2026-04-01}\n",
         ":5:7: error: season b overlaps season a"),
        ("seasons:\n  period: explicit\n  list:\n    - {name: a, start: 2026-02-30, end: 2026-03-01}\n", ":4:24: error: start must be a date YYYY-MM-DD"),
        ("seasons:\n  period: monthly\n  archive_top: 0\n", ":3:16: error:"),
        ("seasons:\n  period: monthly\n  list: []\n", ":3:9: error: list: is for period: explicit"),
    ])
    func badSeasonConfigsAreRefusedWithTheirPosition(_ text: String, _ expected: String) {
        do {
            _ = try BotHostConfiguration.parse(text, file: "c.yaml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.hasPrefix("c.yaml" + expected), "\(error.description)")
        }
    }

    /// Posts across the end of November: the archive holds November's top N by November's
    /// XP only, written once the stream is past the end and its grace, also across a
    /// restart in between; later changes do not touch it, and replaying again adds nothing.
    @Test(arguments: StoreBackendTests.backends)
    func anEndedSeasonIsArchivedOnce(_ backend: StoreBackendTests.Backend) throws {
        let (store, location) = try StoreBackendTests.makeStore(backend)
        var configuration = BotHostConfiguration()
        var calendar = SeasonCalendar(period: .monthly)
        calendar.archiveTop = 2
        calendar.graceUS = 600_000_000
        calendar.announcement = "{handle} finished {season} at #{rank} with {xp} XP"
        configuration.seasons = calendar
        configuration.bot.did = Events.bot
        let nov = Self.us("2026-11-30"), dec = Self.us("2026-12-01")
        func post(_ who: String, _ n: Int, at time: Int64) -> String {
            Events.commit("did:plc:\(who)\(String(repeating: "0", count: 24 - who.count))", rev: n, op: "create", collection: "app.bsky.feed.post",
                          rkey: Events.tid(n), record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"x"}"#,
                          time: Int(time - 1_700_000_000_000_000))
        }
        // November: carol 3 posts (the first opts her in), alice 2, bob 1. December: bob 5
        // (not November's).
        var november: [String] = []
        var n = 0
        let optIn = Events.commit("did:plc:carol0000000000000000000", rev: 0, op: "create", collection: "app.bsky.feed.post", rkey: Events.tid(0),
                                  record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"@bot opt in","facets":\#(Events.mentionFacet(Events.bot))}"#,
                                  time: Int(nov - 1_700_000_000_000_000))
        for (who, count) in [("carol", 2), ("alice", 2), ("bob", 1)] {
            for _ in 0..<count { n += 1; november.append(post(who, n, at: nov + Int64(n) * 1_000_000)) }
        }
        november.insert(optIn, at: 0)
        var december: [String] = []
        for _ in 0..<5 { n += 1; december.append(post("bob", n, at: dec + Int64(n) * 1_000_000)) }
        // Past the grace: an event 11 minutes into December.
        let later = post("dave", 99, at: dec + 660_000_000)
        try StoreBackendTests.replay(november + december, into: store, reopen: { try StoreBackendTests.reopen(backend, location) },
                                     batch: 4, configuration: configuration)
        #expect(try (store as! any StateReading).seasonArchive("2026-11").isEmpty)  // within the grace: not yet
        // A restart, then the stream passes the grace.
        let reopened = try StoreBackendTests.reopen(backend, location)
        try StoreBackendTests.replay([later], into: reopened, reopen: { reopened }, configuration: configuration)
        let reader = reopened as! any StateReading
        let archive = try reader.seasonArchive("2026-11")
        #expect(archive.map(\.did) == ["did:plc:carol0000000000000000000", "did:plc:alice0000000000000000000"])
        #expect(archive.map(\.score) == [150, 100])
        #expect(archive.map(\.rank) == [1, 2])
        #expect(try reader.archivedSeasons().map(\.name) == ["2026-11"])
        // The season-end announcement: carol only (alice never opted in), keyed once.
        let outbox = try (reopened as! any OutboxModeration).outboxMessages(states: [], did: nil, limit: nil).filter { $0.kind == "season" }
        #expect(outbox.map(\.key) == ["season:2026-11:did:plc:carol0000000000000000000"])
        let payload = try #require(try JSONSerialization.jsonObject(with: Data((outbox.first?.payload ?? "").utf8)) as? [String: Any])
        #expect(payload["type"] as? String == "season" && payload["season"] as? String == "2026-11")
        #expect(payload["rank"] as? Int == 1 && payload["xp"] as? Int == 150)
        #expect(payload["template"] as? String == "{handle} finished {season} at #{rank} with {xp} XP")
        // December's live board has bob's December XP only.
        let decemberBoard = try reader.leaderboard(from: dec - 1, to: dec + 700_000_000, limit: 10)
        #expect(decemberBoard.first?.did == "did:plc:bob000000000000000000000" && decemberBoard.first?.score == 250)
        // Replaying everything again (all duplicates) and more December: the archive stays.
        try StoreBackendTests.replay(november + december + [later, post("erin", 100, at: dec + 900_000_000)],
                                     into: reopened, reopen: { reopened }, configuration: configuration)
        #expect(try reader.seasonArchive("2026-11") == archive)
        #expect(try reader.archivedSeasons().count == 1)
        #expect(try (reopened as! any OutboxModeration).outboxMessages(states: [], did: nil, limit: nil).filter { $0.kind == "season" }.count == 1)
    }
}
