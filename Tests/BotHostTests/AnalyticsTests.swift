import BotHost
import BotHostConfig
import BotHostSQLite
import Foundation
import Plugins
import Testing

@Suite struct AnalyticsTests {
    typealias E = Events
    let hour: Int64 = 3_600_000_000
    let base: Int64 = 1_700_000_000_000_000 - 1_700_000_000_000_000 % 86_400_000_000  // a midnight

    private func at(_ offset: Int64, _ line: String) -> String {
        line.replacingOccurrences(of: #""time_us":\d+"#, with: "\"time_us\":\(base + offset)", options: .regularExpression)
    }

    @Test func activityAndXPPerHourAndDayByType() throws {
        let host = try TestHost()
        try host.feed([
            at(0, E.post(E.alice, rev: 1, rkey: E.tid(1), embed: E.images(["x"]))),
            at(10, E.like(E.alice, rev: 2, rkey: E.tid(2), subject: E.postURI(E.bob, E.tid(9)))),
            at(hour + 5, E.like(E.alice, rev: 3, rkey: E.tid(3), subject: E.postURI(E.bob, E.tid(8)))),
            at(hour + 6, E.delete(E.alice, rev: 4, collection: "app.bsky.feed.like", rkey: E.tid(2))),
        ])
        let hourly = try host.store.activity(did: E.alice, hourly: true)
        #expect(hourly.map(\.0) == [base / 1_000_000, (base + hour) / 1_000_000])
        let first = Dictionary(uniqueKeysWithValues: hourly[0].1)
        #expect(first["app.bsky.feed.post:create"] == 1 && first["app.bsky.feed.like:create"] == 1)
        #expect(first["xp:app.bsky.feed.post"] == 70 && first["xp:app.bsky.feed.like"] == 10)
        let second = Dictionary(uniqueKeysWithValues: hourly[1].1)
        #expect(second["app.bsky.feed.like:create"] == 1 && second["app.bsky.feed.like:delete"] == 1)
        #expect(second["xp:app.bsky.feed.like"] == 0)  // +10 for the new like, −10 for the deleted one
        let daily = try host.store.activity(did: E.alice)
        #expect(daily.count == 1)
        let day = Dictionary(uniqueKeysWithValues: daily[0].1)
        #expect(day["app.bsky.feed.like:create"] == 2 && day["xp:app.bsky.feed.like"] == 10 && day["xp:app.bsky.feed.post"] == 70)
    }

    @Test func oldBucketsAreDroppedOnTheStreamClock() throws {
        var config = BotHostConfiguration()
        config.analytics.retentionDays = 3
        config.analytics.hourlyRetentionDays = 1
        let host = try TestHost(configuration: config)
        let day = 24 * hour
        try host.feed([at(0, E.post(E.alice, rev: 1, rkey: E.tid(1)))])
        try host.feed([at(2 * day, E.post(E.alice, rev: 2, rkey: E.tid(2)))])
        // Two days later: the first day's hourly counts are gone, its daily ones kept.
        #expect(try host.store.activity(did: E.alice, hourly: true).filter { $0.1.contains { $0.0.hasSuffix(":create") } }.count == 1)
        #expect(try host.store.activity(did: E.alice).filter { $0.1.contains { $0.0.hasSuffix(":create") } }.count == 2)
        try host.feed([at(5 * day, E.post(E.alice, rev: 3, rkey: E.tid(3)))])
        // Five days in, with 3 days kept: day 0 is gone, days 2 and 5 stay.
        let kept = try host.store.activity(did: E.alice).filter { $0.1.contains { $0.0.hasSuffix(":create") } }.map(\.0)
        #expect(kept == [(base + 2 * day) / 1_000_000, (base + 5 * day) / 1_000_000])
        // The ledger (and so the XP) is not touched by analytics retention.
        #expect(try host.xp(E.alice) == 150)
    }
}
