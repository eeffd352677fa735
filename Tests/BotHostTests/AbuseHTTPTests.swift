import BotHost
@testable import BotHostHTTP
import BotHostSQLite
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// Counts the leaderboard reads that reach the store (the real SQLite store underneath).
private final class CountingReader: StateReading {
    let base: Store
    let boardReads = Mutex(0)
    init(base: Store) { self.base = base }
    func forEachAccount(_ body: (AccountRecord) throws -> Void) throws { try base.forEachAccount(body) }
    func account(_ didOrHandle: String) throws -> AccountRecord? { try base.account(didOrHandle) }
    func top(limit: Int) throws -> [AccountRecord] { try base.top(limit: limit) }
    func ledger(account id: Int64, limit: Int) throws -> [LedgerRecord] { try base.ledger(account: id, limit: limit) }
    func readCursor() throws -> Int64? { try base.readCursor() }
    func leaderboard(window: RankingWindow, asOf: Int64, limit: Int) throws -> [RankedAccount] {
        boardReads.withLock { $0 += 1 }
        return try base.leaderboard(window: window, asOf: asOf, limit: limit)
    }
    func leaderboard(from: Int64, to: Int64, limit: Int) throws -> [RankedAccount] { try base.leaderboard(from: from, to: to, limit: limit) }
    func seasonArchive(_ name: String) throws -> [RankedAccount] { try base.seasonArchive(name) }
    func archivedSeasons() throws -> [ArchivedSeason] { try base.archivedSeasons() }
    func leaderboard(limit: Int) throws -> [RankedAccount] { try base.leaderboard(limit: limit) }
    func status() throws -> StoreStatus { try base.status() }
    func activityTotals(did: String) throws -> [(String, Int64)] { try base.activityTotals(did: did) }
    func activity(did: String, hourly: Bool) throws -> [(Int64, [(String, Int64)])] { try base.activity(did: did, hourly: hourly) }
}

/// Issue 18, attack 4 (docs/security.md): what one HTTP client can cost the host.
@Suite struct AbuseHTTPTests {
    typealias E = Events

    private func host() throws -> TestHost {
        let host = try TestHost()
        var lines = [E.identity(E.alice, handle: "Alice.Test", time: 1)]
        for index in 0..<30 { lines.append(E.post("did:plc:user\(String(format: "%021d", index))", rev: 10 + index, rkey: E.tid(10 + index))) }
        try host.feed(lines)
        return host
    }

    @Test func pageAndSizeVariationsReadTheBoardOnceAndLimitsAreCapped() async throws {
        let host = try host()
        let reader = CountingReader(base: host.store)
        let app = Application(router: APIServer(store: reader).router())
        try await app.test(.router) { client in
            for (limit, cursor) in [(1, 0), (2, 0), (5, 3), (10, 7), (007, 1), (30, 0), (1000, 0)] {
                try await client.execute(uri: "/v1/leaderboards/day?limit=\(limit)&cursor=\(cursor)", method: .get) { response in
                    #expect(response.status == .ok)
                }
            }
            try await client.execute(uri: "/v1/leaderboards/day?limit=1001", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/leaderboards/day?cursor=99999", method: .get) { response in
                #expect(response.status == .badRequest)
            }
        }
        #expect(reader.boardReads.withLock { $0 } == 1)
    }

    @Test func handleLookupIsCaseInsensitiveAndStoredLowercase() async throws {
        let host = try host()
        #expect(try host.account(E.alice)?.handle == "alice.test")
        let app = Application(router: APIServer(store: host.store).router())
        try await app.test(.router) { client in
            for key in ["ALICE.TEST", "@alice.Test"] {
                try await client.execute(uri: "/v1/characters/\(key)", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains(E.alice))
                }
            }
        }
        // The lookup is an index probe, not a scan.
        let plan = try host.store.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT id FROM accounts a WHERE a.handle = 'alice.test'").map { $0["detail"] as String }
        }
        #expect(plan.joined().contains("INDEX"))
    }

    @Test func oneClientOverItsRateGets429WithRetryAfterAndHealthChecksStillAnswer() async throws {
        let host = try host()
        var limits = APILimits()
        limits.burst = 3
        limits.perSecond = 0.01
        let app = Application(router: APIServer(store: host.store, limits: limits).router())
        try await app.test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/characters/\(E.alice)", method: .get) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/v1/characters/\(E.alice)", method: .get) { response in
                #expect(response.status == .tooManyRequests)
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// Past `maxClients` the oldest client is forgotten (a flood of new addresses cannot
    /// grow the table), and a forgotten client starts again with a full bucket.
    @Test func theOldestClientIsForgottenWhenTheTableIsFull() {
        var limits = APILimits()
        limits.burst = 1
        limits.perSecond = 0.001
        limits.maxClients = 3
        let limiter = ClientRateLimiter(limits: limits)
        #expect(limiter.admit("a", now: 0) == nil)
        #expect(limiter.admit("a", now: 0) != nil, "a spent its burst")
        for client in ["b", "c", "d"] { #expect(limiter.admit(client, now: 0) == nil) }
        #expect(limiter.admit("b", now: 0) != nil, "b is still remembered")
        #expect(limiter.admit("a", now: 0) == nil, "a was forgotten when d arrived, so it has a full bucket again")
        #expect(limiter.admit("c", now: 0) != nil, "c is still remembered")
        #expect(limiter.admit("b", now: 0) == nil, "b was forgotten when a came back")
    }

    @Test func aClientRateOfZeroMeansNoPerClientLimit() async throws {
        let host = try host()
        var limits = APILimits()
        limits.perSecond = 0  // `serve --client-rate 0`: behind a proxy that limits, or a load test
        limits.burst = 0
        let app = Application(router: APIServer(store: host.store, limits: limits).router())
        try await app.test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<100 {
                try await client.execute(uri: "/v1/leaderboards/day?limit=5", method: .get) { statuses.append($0.status) }
            }
            #expect(statuses.allSatisfy { $0 == .ok }, "\(Set(statuses.map(\.code)))")
        }
    }

    @Test func readsBeyondTheWaitingBoundAreRefusedAt503() async throws {
        let host = try host()
        var limits = APILimits()
        limits.maxWaitingReads = 0
        let app = Application(router: APIServer(store: host.store, limits: limits).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/characters/\(E.alice)", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
        }
    }
}
