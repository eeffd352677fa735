import BotHost
import BotHostConfig
import BotHostPostgres
import BotHostSQLite
import Foundation
import Testing
import XRPCClient

/// Names instead of DIDs: the shown accounts' profiles fetched with
/// `app.bsky.actor.getProfiles` from the real PDS on loopback (arroba, whose harness answers
/// getProfile(s) as the AppView the reference PDS proxies to would), kept in either store,
/// shown by every reader.
@Suite struct ProfileNamesTests {
    typealias Backend = StoreBackendTests.Backend

    struct ProfileRecord: Encodable {
        var type = "app.bsky.actor.profile"
        var displayName: String
        enum CodingKeys: String, CodingKey { case type = "$type", displayName }
    }

    static func did(_ n: Int) -> String { "did:web:u\(String(format: "%02d", n)).test" }

    static var backends: [Backend] { StoreBackendTests.server == nil ? [.sqlite] : Backend.allCases }

    static func store(_ backend: Backend) throws -> any BotHostStore {
        switch backend {
        case .sqlite:
            return try Store(path: makeTemporaryDirectory().appendingPathComponent("names.sqlite").path)
        case .postgres:
            let url = try PostgresAdmin.recreateDatabase(serverURL: StoreBackendTests.server!, name: "names_" + UUID().uuidString.prefix(8).lowercased())
            return try PostgresStore(url)
        }
    }

    @Test(arguments: backends)
    func shownAccountsAreNamedTwentyFivePerCallAndNotAskedAgainWithinTheTTL(_ backend: Backend) async throws {
        let accounts = (0..<30).flatMap { ["--account", "u\(String(format: "%02d", $0)).test:pw"] }
        let pds = try TestPDS(["--account", "bot.test:bot-pass"] + accounts)
        // Display names set the way their owners would: a profile record in their repository.
        let ada = try pds.client(identifier: "u00.test", password: "pw")
        _ = try await ada.putRecord(collection: "app.bsky.actor.profile", rkey: "self", record: ProfileRecord(displayName: "Ada  Lovelace"))
        let hostile = try pds.client(identifier: "u01.test", password: "pw")
        _ = try await hostile.putRecord(collection: "app.bsky.actor.profile", rkey: "self",
                                        record: ProfileRecord(displayName: "Evil\u{202E}gnp.exe\nsecond line\u{0007}"))
        // u02's handle does not verify: the AppView answers handle.invalid.
        try await pds.post("/_control/unverified", #"{"did":"\#(Self.did(2))"}"#)

        // Thirty ranked accounts (u29 has the most XP), two with handles from the stream:
        // u03's identity event is older than the fetch below, u04's newer.
        let fetchedUS: Int64 = 1_700_000_000_000_000 + 500_000
        var lines: [String] = []
        for n in 0..<30 {
            for k in 0...n { lines.append(Events.post(Self.did(n), rev: 10 + k, rkey: Events.tid(1000 * n + k))) }
        }
        lines.append(Events.identity(Self.did(3), handle: "old-u03.test", time: 100))
        lines.append(Events.identity(Self.did(4), handle: "newer-u04.test", time: 900_000))
        let store = try Self.store(backend)
        try StoreBackendTests.replay(lines, into: store, reopen: { store })

        var options = ProfileResolver.Options()
        options.ttl = 3_600
        let resolver = ProfileResolver(store: store, client: try pds.client(), options: options)
        let shown = try resolver.shownAccounts(store)
        #expect(Set(shown) == Set((0..<30).map(Self.did)))

        let first = try await resolver.refresh(shown, now: fetchedUS)
        #expect(first.asked == 30 && first.fresh == 0)
        #expect(first.calls == 2 && first.failedCalls == 0)
        #expect(first.fetched == 30 && first.unknown == 0 && first.invalidHandles == 1)
        let log = try await pds.get("/_control/log") as? [[String: Any]] ?? []
        #expect(log.filter { $0["nsid"] as? String == "app.bsky.actor.getProfiles" }.count == 2)

        // Every reader shows the names.
        let board = try store.leaderboard(limit: 30)
        #expect(board.first?.did == Self.did(29) && board.first?.handle == "u29.test")
        let byDID = Dictionary(uniqueKeysWithValues: board.map { ($0.did, $0) })
        #expect(byDID[Self.did(0)]?.displayName == "Ada Lovelace")
        #expect(byDID[Self.did(1)]?.displayName == "Evilgnp.exe second line")
        #expect(byDID[Self.did(2)]?.handle == nil, "handle.invalid is not kept")
        #expect(byDID[Self.did(3)]?.handle == "u03.test", "a fetch newer than the identity event wins")
        #expect(byDID[Self.did(4)]?.handle == "newer-u04.test", "an identity event newer than the fetch wins")
        #expect(byDID[Self.did(7)]?.handle == "u07.test" && byDID[Self.did(7)]?.displayName == nil)
        let cursor = try #require(try store.readCursor())
        let day = try store.leaderboard(window: .day, asOf: cursor, limit: 30)
        #expect(day.first { $0.did == Self.did(0) }?.displayName == "Ada Lovelace")
        #expect(try store.account("@u05.test")?.did == Self.did(5), "found by its fetched handle")
        #expect(try store.account("@newer-u04.test")?.did == Self.did(4))
        #expect(try store.account("@old-u03.test") == nil, "the superseded handle no longer names the account")
        #expect(try store.account(Self.did(0))?.displayName == "Ada Lovelace")

        // Within the TTL nothing is asked again, also by a resolver that starts afresh.
        let again = try await resolver.refresh(shown, now: fetchedUS + 1_000_000)
        #expect(again.calls == 0 && again.fresh == 30)
        let restarted = ProfileResolver(store: store, client: try pds.client(), options: options)
        #expect(try await restarted.refresh(shown, now: fetchedUS + 2_000_000).calls == 0)
        // After it, they are.
        let expired = try await restarted.refresh(shown, now: fetchedUS + 3_601_000_000)
        #expect(expired.calls == 2 && expired.fetched == 30)
    }

    @Test func displayNamesAreMadeSafeToPrint() {
        #expect(FetchedProfile.safeDisplayName("  Ada \t Lovelace  ") == "Ada Lovelace")
        #expect(FetchedProfile.safeDisplayName("a\u{202E}b\u{2066}c\u{2069}\u{200F}d") == "abcd")
        #expect(FetchedProfile.safeDisplayName("line\r\nbreak\u{1B}[2J") == "line break[2J")
        #expect(FetchedProfile.safeDisplayName("\u{200B}\u{FEFF}") == nil)
        #expect(FetchedProfile.safeDisplayName(String(repeating: "é", count: 100))?.count == 64)
        #expect(FetchedProfile.safeDisplayName("👩‍👩‍👧 family") == "👩‍👩‍👧 family", "joiners inside a character stay")
        #expect(FetchedProfile(did: "did:plc:x", handle: "Alice.Example.COM", displayName: nil).handle == "alice.example.com")
        #expect(FetchedProfile(did: "did:plc:x", handle: "handle.invalid", displayName: nil).handle == nil)
        #expect(FetchedProfile(did: "did:plc:x", handle: "not a handle", displayName: nil).handle == nil)
    }

    @Test func aFailedCallIsCountedAndItsAccountsAskedNextPass() async throws {
        let pds = try TestPDS(["--account", "bot.test:bot-pass", "--account", "u00.test:pw"])
        let store = try Self.store(.sqlite)
        try StoreBackendTests.replay([Events.post(Self.did(0), rev: 10, rkey: Events.tid(1))], into: store, reopen: { store })
        let resolver = ProfileResolver(store: store, client: try pds.client(retry: RetryPolicy(maxAttempts: 1, baseDelayMS: 1, maxDelayMS: 1)))
        try await pds.post("/_control/faults", #"{"status": 503, "count": 1, "nsid": "app.bsky.actor.getProfiles"}"#)
        let failed = try await resolver.refresh([Self.did(0)])
        #expect(failed.calls == 1 && failed.failedCalls == 1 && failed.fetched == 0)
        #expect(try store.account(Self.did(0))?.handle == nil)
        let next = try await resolver.refresh([Self.did(0)])
        #expect(next.calls == 1 && next.failedCalls == 0 && next.fetched == 1)
        #expect(try store.account(Self.did(0))?.handle == "u00.test")
    }
}
