import BotHost
import BotHostConfig
import BotHostSQLite
@testable import BotHostHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `/v1/seasons`, `/v1/seasons/{name}` and the season page, on a database whose stream
/// crossed the end of November (so November is archived and December in progress).
@Suite struct SeasonHTTPTests {
    private func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: buffer).utf8)) as? [String: Any])
    }

    @Test func seasonsAnswerFromTheArchiveAndTheLiveBoard() async throws {
        var configuration = BotHostConfiguration()
        configuration.seasons = SeasonCalendar(period: .monthly, archiveTop: 10, graceUS: 0)
        let host = try TestHost(configuration: configuration)
        let nov = CivilDate.microseconds(year: 2026, month: 11, day: 30), dec = CivilDate.microseconds(year: 2026, month: 12)
        func post(_ did: String, _ n: Int, at time: Int64) -> String {
            Events.commit(did, rev: n, op: "create", collection: "app.bsky.feed.post", rkey: Events.tid(n),
                          record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"x"}"#,
                          time: Int(time - 1_700_000_000_000_000))
        }
        try host.feed([post(Events.alice, 1, at: nov), post(Events.alice, 2, at: nov + 1), post(Events.bob, 3, at: nov + 2)])
        try host.feed([post(Events.bob, 4, at: dec + 5_000_000)])
        let app = Application(router: APIServer(store: host.store, seasons: configuration.seasons).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/seasons", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect((body["current"] as? [String: Any])?["name"] as? String == "2026-12")
                let archived = try #require(body["archived"] as? [[String: Any]])
                #expect(archived.map { $0["name"] as? String } == ["2026-11"])
                #expect(archived.first?["entries"] as? Int == 2)
            }
            try await client.execute(uri: "/v1/seasons/2026-11", method: .get) { response in
                let body = try json(response.body)
                #expect(body["state"] as? String == "archived")
                let entries = try #require(body["entries"] as? [[String: Any]])
                #expect(entries.map { $0["did"] as? String } == [Events.alice, Events.bob])
                #expect(entries.map { $0["score"] as? Int } == [100, 50])
            }
            try await client.execute(uri: "/v1/seasons/current?limit=5", method: .get) { response in
                let body = try json(response.body)
                #expect(body["name"] as? String == "2026-12" && body["state"] as? String == "in_progress")
                let entries = try #require(body["entries"] as? [[String: Any]])
                #expect(entries.map { $0["did"] as? String } == [Events.bob])
                #expect(entries.first?["score"] as? Int == 50)
                #expect(entries.first?["xp"] as? Int == 100)
            }
            try await client.execute(uri: "/v1/seasons/2026-13", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try json(response.body); #expect(body["error"] as? String == "UnknownSeason")
            }
            try await client.execute(uri: "/v1/seasons/current?limit=0", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/accounts/\(Events.bob)", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("<div id=\"rank-season\" data-rank=\"1\" data-xp=\"50\">"), "\(html)")
                #expect(html.contains("href=\"/seasons/2026-12\">season 2026-12</a>"))
            }
            try await client.execute(uri: "/seasons/2026-11", method: .get) { response in
                #expect(response.status == .ok)
                let html = String(buffer: response.body)
                #expect(html.contains("<h1>Season 2026-11</h1>") && html.contains("ended: the archived top 2"))
                #expect(html.contains("href=\"/seasons/2026-11\""))
            }
        }
        // Without a calendar the endpoints say so.
        let bare = Application(router: APIServer(store: host.store).router())
        try await bare.test(.router) { client in
            try await client.execute(uri: "/v1/seasons", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try json(response.body); #expect(body["error"] as? String == "NoSeasons")
            }
        }
    }
}
