import BotHost
import BotHostSQLite
@testable import BotHostHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing

/// The HTTP API through Hummingbird's router test client, over a real database.
@Suite struct HTTPAPITests {
    typealias E = Events

    private func host() throws -> TestHost {
        let host = try TestHost()
        try host.feed([
            E.identity(E.alice, handle: "alice.test", time: 1),
            E.post(E.alice, rev: 2, rkey: E.tid(2), embed: E.images(["a cat"])),
            E.like(E.alice, rev: 3, rkey: E.tid(3), subject: E.postURI(E.bob, E.tid(9))),
            E.post(E.bob, rev: 4, rkey: E.tid(4)),
        ])
        return host
    }

    private func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: buffer).utf8)) as? [String: Any])
    }

    @Test func characterLookupByDidOrHandle() async throws {
        let host = try host()
        let app = Application(router: APIServer(store: host.store).router())
        try await app.test(.router) { client in
            for key in [E.alice, "alice.test"] {
                try await client.execute(uri: "/v1/characters/\(key)", method: .get) { response in
                    #expect(response.status == .ok)
                    let body = try json(response.body)
                    #expect(body["did"] as? String == E.alice)
                    #expect(body["xp"] as? Int == 80)
                    #expect(body["level"] as? Int == 2)
                    #expect(body["xp_to_next_level"] as? Int == 120)
                    #expect(body["progress_percent"] as? Double == 20.0)
                    let counts = try #require(body["counts"] as? [String: Int])
                    #expect(counts["app.bsky.feed.post:create"] == 1 && counts["app.bsky.feed.like:create"] == 1)
                    #expect((body["recent_ledger"] as? [Any])?.count == 2)
                }
            }
            try await client.execute(uri: "/v1/characters/did:plc:nobody", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try json(response.body)
                #expect(body["error"] as? String == "AccountNotFound")
            }
        }
    }

    @Test func leaderboardsArePagedCachedAndTagged() async throws {
        let host = try host()
        let app = Application(router: APIServer(store: host.store).router())
        try await app.test(.router) { client in
            var etag = ""
            try await client.execute(uri: "/v1/leaderboards/hour?limit=1", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=10")
                etag = response.headers[.eTag] ?? ""
                let body = try json(response.body)
                let entries = try #require(body["entries"] as? [[String: Any]])
                #expect(entries.map { $0["did"] as? String } == [E.alice])
                #expect(body["cursor"] as? String == "1")
            }
            try await client.execute(uri: "/v1/leaderboards/hour?limit=1&cursor=1", method: .get) { response in
                let entries = try #require(try json(response.body)["entries"] as? [[String: Any]])
                #expect(entries.map { $0["did"] as? String } == [E.bob])
                #expect(entries.first?["rank"] as? Int == 2)
            }
            try await client.execute(uri: "/v1/leaderboards/hour?limit=1", method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
            }
            try await client.execute(uri: "/v1/leaderboards/month", method: .get) { response in
                #expect(response.headers[.cacheControl] == "public, max-age=900")
            }
            try await client.execute(uri: "/v1/leaderboards/year", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try json(response.body)
                #expect(body["error"] as? String == "UnknownWindow")
            }
            try await client.execute(uri: "/v1/leaderboards/day?limit=0", method: .get) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func activityAndHealth() async throws {
        let host = try host()
        let app = Application(router: APIServer(store: host.store).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/accounts/\(E.alice)/activity?bucket=day", method: .get) { response in
                let buckets = try #require(try json(response.body)["buckets"] as? [[String: Any]])
                #expect(buckets.count == 1)
                #expect((buckets.first?["counts"] as? [String: Int])?["app.bsky.feed.like:create"] == 1)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { response in #expect(response.status == .ok) }
        }
    }

    @Test func metricsAreExportedInPrometheusFormat() async throws {
        let host = try host()
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(name: "bothost_events_total").increment(by: Int64(42))
        let app = Application(router: APIServer(store: host.store, registry: registry).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("bothost_events_total 42"))
            }
        }
        let none = Application(router: APIServer(store: host.store).router())
        try await none.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in #expect(response.status == .notFound) }
        }
    }
}

extension HTTPAPITests {
    @Test func pagesAreServerRenderedWithTablesAndAnSVGChart() async throws {
        let host = try host()
        let app = Application(router: APIServer(store: host.store).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = String(buffer: response.body)
                for window in ["hour", "day", "week", "month"] { #expect(html.contains("<h2>Last \(window)</h2>")) }
                #expect(html.contains("<a class=\"name\" href=\"/accounts/\(E.alice)\">@alice.test</a>"))
                // One script, inline (the ETag poll); nothing loaded from elsewhere.
                #expect(html.components(separatedBy: "<script").count == 2 && html.contains("<script>(function(){"))
                #expect(!html.contains("src=") && !html.contains("@import") && !html.contains("url("))
                #expect(html.contains("<form class=\"search\" action=\"/search\""))
                // The page's ETag is the one it carries, and a poll with it is answered 304.
                let etag = try #require(response.headers[.eTag])
                #expect(html.contains("data-etag=\"\(WebPages.escape(etag))\""))
                try await client.execute(uri: "/", method: .get, headers: [.ifNoneMatch: etag]) { again in
                    #expect(again.status == .notModified)
                }
            }
            try await client.execute(uri: "/accounts/\(E.alice)", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("<svg"))
                let points = try #require(html.firstRange(of: #/points="([0-9, ]+)"/#))
                #expect(html[points].split(separator: " ").count == 2)  // two ledger entries
                #expect(html.contains("Level <span id=\"level\">2</span> · <span id=\"xp\">80</span> XP"))
                #expect(html.contains("<div id=\"rank-day\" data-rank=\"1\">"))
            }
            try await client.execute(uri: "/search?q=%40alice.test", method: .get) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/accounts/\(E.alice)")
            }
            try await client.execute(uri: "/search?q=nobody.test", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/accounts/did:plc:nobody", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}

extension HTTPAPITests {
    /// The y axis fits any value (it used to print the whole number, which overflowed
    /// the margin past 2^31): compact labels, round quarters, a maximum at or above the data.
    @Test func chartAxesFitAnyValue() throws {
        for top: Int64 in [1, 3, 80, 999, 1_000, 2_750, 6_940, 2_147_483_648, 3_000_000_330, 1 << 53, .max] {
            let svg = WebPages.chart([(1_700_000_000_000_000, 0), (1_700_000_360_000_000, top)])
            let labels = svg.matches(of: #/class="ylabel"[^>]*>([^<]+)</#).map { String($0.output.1) }
            #expect(labels.count == 5, "\(top)")
            #expect(labels.allSatisfy { $0.count <= 5 }, "\(top): \(labels)")
            #expect(labels.first == "0")
            let units: [Character: Double] = ["K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12, "P": 1e15, "E": 1e18]
            let last = try #require(labels.last)
            let value = units[last.last!].map { Double(last.dropLast())! * $0 } ?? Double(last)!
            #expect(value >= Double(top), "\(top): \(labels)")
            #expect(!svg.contains("nan") && !svg.contains("inf"))
        }
        #expect(WebPages.compact(2_500) == "2.5K" && WebPages.compact(40_000_000) == "40M" && WebPages.compact(950) == "950")
        #expect(WebPages.niceMaximum(2_750) == 4_000 && WebPages.niceMaximum(6_940) == 8_000 && WebPages.niceMaximum(80) == 80)
    }

    @Test func movementComparesWithTheWindowBefore() {
        #expect(WebPages.Movement(now: 1, before: 4) == .up(3))
        #expect(WebPages.Movement(now: 5, before: 2) == .down(3))
        #expect(WebPages.Movement(now: 3, before: 3) == .same)
        #expect(WebPages.Movement(now: 7, before: nil) == .new)
    }

    @Test func grantsLinkToTheRecordThatEarnedThem() {
        let post = WebPages.recordLink("at://did:plc:abc/app.bsky.feed.post/3kxyz")
        #expect(post.contains("href=\"https://bsky.app/profile/did:plc:abc/post/3kxyz\""))
        let like = WebPages.recordLink("at://did:plc:abc/app.bsky.feed.like/3kabc")
        #expect(like.contains("href=\"https://pdsls.dev/at://did:plc:abc/app.bsky.feed.like/3kabc\"") && like.contains(">like</a>"))
        let hostile = WebPages.recordLink("at://did:plc:abc/x\"><script>/1")
        #expect(!hostile.contains("<script>") && !hostile.contains("\"><"))
    }

    @Test func adminEndpointsNeedTheBearerTokenAndQueueCommands() async throws {
        let host = try host()
        let api = APIServer(store: host.store, adminToken: "s3cret-token")
        let app = Application(router: api.router())
        try await app.test(.router) { client in
            let body = ByteBuffer(string: #"{"amount": 500, "reason": "contest"}"#)
            try await client.execute(uri: "/v1/admin/accounts/\(E.alice)/adjust", method: .post, body: body) { response in
                #expect(response.status == .unauthorized)
                #expect(!String(buffer: response.body).contains("s3cret"))
            }
            try await client.execute(uri: "/v1/admin/accounts/\(E.alice)/adjust", method: .post,
                                     headers: [.authorization: "Bearer wrong-token!"], body: body) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/admin/accounts/\(E.alice)/adjust", method: .post,
                                     headers: [.authorization: "Bearer s3cret-token"], body: body) { response in
                #expect(response.status == .accepted)
                #expect(String(buffer: response.body).contains(#""state":"pending""#))
            }
            try await client.execute(uri: "/v1/admin/accounts/\(E.alice)/adjust", method: .post,
                                     headers: [.authorization: "Bearer s3cret-token"], body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/admin/accounts/\(E.bob)/exclude", method: .post,
                                     headers: [.authorization: "Bearer s3cret-token"]) { response in
                #expect(response.status == .ok)
            }
        }
        let pending = try host.store.pendingCommands().filter { $0.kind == .adjust }
        #expect(pending.map(\.amount) == [500] && pending.first?.did == E.alice && pending.first?.actor == "http-admin")
        #expect(try host.store.isExcluded(E.bob))
        // Without a token the API stays read-only: no admin routes at all.
        let readOnly = Application(router: APIServer(store: host.store).router())
        try await readOnly.test(.router) { client in
            try await client.execute(uri: "/v1/admin/accounts/\(E.bob)/include", method: .post,
                                     headers: [.authorization: "Bearer s3cret-token"]) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
