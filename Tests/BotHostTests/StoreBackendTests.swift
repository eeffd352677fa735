import BotHost
import BotHostConfig
import BotHostSQLite
import BotHostPostgres
import Foundation
import Plugins
import Testing

/// The store contract on both backends: SQLite (a file in a temp directory) and
/// PostgreSQL (a fresh database per test on the server named by BOTHOST_TEST_POSTGRES,
/// which `make test` starts on loopback with scripts/pg-cluster.sh). The PostgreSQL
/// cases are skipped, not faked, when no server is given.
@Suite struct StoreBackendTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    static let server = ProcessInfo.processInfo.environment["BOTHOST_TEST_POSTGRES"]
    static let backends: [Backend] = server == nil ? [.sqlite] : [.sqlite, .postgres]

    /// A fresh, empty store of `backend` (and its location, for reopening).
    static func makeStore(_ backend: Backend, partition: Partition = .whole, database: String? = nil) throws -> (any StateStore & AccountReading, String) {
        switch backend {
        case .sqlite:
            let path = makeTemporaryDirectory().appendingPathComponent("state.sqlite").path
            return (try Store(path: path), path)
        case .postgres:
            let url = try database ?? PostgresAdmin.recreateDatabase(serverURL: server!, name: "t_" + UUID().uuidString.prefix(8).lowercased())
            return (try PostgresStore(url, partition: partition), url)
        }
    }

    static func reopen(_ backend: Backend, _ location: String, partition: Partition = .whole) throws -> any StateStore & AccountReading {
        switch backend {
        case .sqlite: return try Store(path: location)
        case .postgres: return try PostgresStore(location, partition: partition)
        }
    }

    /// Replays `lines` into `store`, restarting (a fresh context loaded from the store)
    /// every `restartEvery` lines and committing every `batch` lines.
    static func replay(_ lines: [String], into initial: any StateStore, reopen: () throws -> any StateStore,
                       partition: Partition = .whole, restartEvery: Int = .max, batch: Int = 500,
                       configuration: BotHostConfiguration = BotHostConfiguration(), packs: PackSelection? = nil) throws {
        var store = initial
        func start() throws -> HostEngine {
            let context = configuration.makeContext()
            context.residency.partition = partition
            try store.load(into: context)
            let engine = HostEngine(context: context, plugins: configuration.makePlugins(packs: packs))
            if let bot = configuration.bot.did { engine.setBot(did: bot) }
            return engine
        }
        var engine = try start()
        for (index, line) in lines.enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: index + 1) }
            if (index + 1) % batch == 0 { try store.commit(engine.context.closeBatch()) }
            if (index + 1) % restartEvery == 0 {
                try store.commit(engine.context.closeBatch())
                store = try reopen()
                engine = try start()
            }
        }
        try store.commit(engine.context.closeBatch())
    }

    static func export(_ store: any AccountReading) throws -> [AccountRecord] {
        var all: [AccountRecord] = []
        try store.forEachAccount { all.append($0) }
        return all.map { var a = $0; a.id = 0; return a }  // ids are each database's own
    }

    /// The real samples, then a synthetic stream of posts, likes, reposts of each other's
    /// posts and deletions over 30 accounts (the same shapes the replay tests use).
    static let capture: [String] = {
        var lines = (try? String(contentsOfFile: Fixtures.realSamples, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        let url = makeTemporaryDirectory()
        if let path = try? StoreAndReplayTests().writeCapture(url),
           let text = try? String(contentsOfFile: path, encoding: .utf8) {
            lines += text.split(separator: "\n").map(String.init)
        }
        return lines
    }()

    static let reference: [AccountRecord] = {
        let path = makeTemporaryDirectory().appendingPathComponent("reference.sqlite").path
        let store = try! Store(path: path)
        try! replay(capture, into: store, reopen: { store }, batch: 100_000)
        return try! export(store)
    }()

    @Test(arguments: backends)
    func restartsAfterEveryFewBatchesEndWithTheStateOfOneRun(_ backend: Backend) throws {
        let (store, location) = try Self.makeStore(backend)
        try Self.replay(Self.capture, into: store, reopen: { try Self.reopen(backend, location) }, restartEvery: 170, batch: 40)
        let reopened = try Self.reopen(backend, location)
        let got = try Self.export(reopened)
        #expect(Self.reference.count > 200)
        #expect(got == Self.reference)
        #expect(try reopened.storedCursor() == (try Self.reopen(.sqlite, Self.referencePath()).storedCursor()))
    }

    @Test(arguments: backends)
    func replayingAgainChangesNothing(_ backend: Backend) throws {
        let (store, location) = try Self.makeStore(backend)
        try Self.replay(Self.capture, into: store, reopen: { try Self.reopen(backend, location) })
        let first = try Self.export(try Self.reopen(backend, location))
        try Self.replay(Self.capture, into: try Self.reopen(backend, location), reopen: { try Self.reopen(backend, location) })
        #expect(try Self.export(try Self.reopen(backend, location)) == first)
        #expect(first == Self.reference)
    }

    @Test(arguments: backends)
    func accountsAreFoundByDIDAndHandleAndRankedByXP(_ backend: Backend) throws {
        let (store, location) = try Self.makeStore(backend)
        try Self.replay(Self.capture, into: store, reopen: { try Self.reopen(backend, location) })
        let top = try store.top(limit: 3)
        #expect(top.count == 3)
        #expect(top[0].xp >= top[1].xp && top[1].xp >= top[2].xp)
        let first = try #require(top.first)
        #expect(try store.account(first.did)?.xp == first.xp)
        let history = try store.ledger(account: first.id, limit: 5)
        #expect(history.count == 5)
        #expect(history.allSatisfy { $0.uri.hasPrefix("at://\(first.did)/") })
        #expect(history.map(\.id) == history.map(\.id).sorted(by: >))
        if let withHandle = Self.reference.first(where: { $0.handle != nil }) {
            #expect(try store.account("@" + withHandle.handle!.uppercased())?.did == withHandle.did)
        }
    }

    /// Two hosts, each owning half of the accounts, over one PostgreSQL database: the
    /// union of what they wrote is what one host writes. The second starts after the
    /// first has finished, so it cannot lean on the other's rows.
    @Test(.enabled(if: server != nil))
    func twoPartitionsEndWithTheStateOfOneHost() throws {
        let (first, url) = try Self.makeStore(.postgres, partition: try Partition(parsing: "0/2"))
        try Self.replay(Self.capture, into: first, reopen: { try Self.reopen(.postgres, url, partition: try Partition(parsing: "0/2")) },
                        partition: try Partition(parsing: "0/2"), restartEvery: 230)
        let half = try Self.export(first)
        #expect(half.count > 50 && half.count < Self.reference.count)
        #expect(half.allSatisfy { (try? Partition(parsing: "0/2").owns(did: $0.did)) == true })
        let second = try PostgresStore(url, partition: try Partition(parsing: "1/2"))
        try Self.replay(Self.capture, into: second, reopen: { second }, partition: try Partition(parsing: "1/2"))
        #expect(try Self.export(second) == Self.reference)
        let cursors = try second.cursors().map(\.source)
        #expect(cursors == ["jetstream/0-of-2", "jetstream/1-of-2"])
    }

    @Test(.enabled(if: server != nil))
    func aDatabaseFromANewerBotHostIsRefused() throws {
        let (store, url) = try Self.makeStore(.postgres)
        _ = store
        let admin = try PostgresStore(url)
        try admin.executeForTests("INSERT INTO bothost_schema(version, name, applied_us) VALUES (999, 'future', 0)")
        #expect(throws: StoreError.self) { try PostgresStore(url) }
        do { _ = try PostgresStore(url) } catch { #expect("\(error)".contains("newer BotHost")) }
    }

    @Test func partitionsSplitAccountsStablyAndCheckTheirArguments() throws {
        let dids = (0..<1_000).map { "did:plc:account\($0)" }
        let two = try (0..<2).map { try Partition(index: $0, count: 2) }
        for did in dids { #expect(two.filter { $0.owns(did: did) }.count == 1) }
        let share = dids.filter { two[0].owns(did: $0) }.count
        #expect(share > 400 && share < 600)
        // FNV-1a 64 of the bytes, shifted right once, modulo N: fixed across versions.
        #expect(Partition.hash(Array("a".utf8)) == 0xaf63dc4c8601ec8c)
        #expect(throws: StoreError.self) { try Partition(parsing: "2/2") }
        #expect(throws: StoreError.self) { try Partition(parsing: "1") }
        #expect(try Partition(parsing: "1/4").cursorSource == "jetstream/1-of-4")
        #expect(Partition.whole.cursorSource == "jetstream")
    }

    @Test func postgresURLsKeepTheirPasswordOutOfMessages() throws {
        let url = try PostgresURL("postgres://bot:s3cr%40t@db.example:6543/state?sslmode=require")
        #expect(url.user == "bot" && url.host == "db.example" && url.port == 6543 && url.database == "state" && url.sslMode == "require")
        #expect(!url.redacted.contains("s3cr"))
        #expect(!"\(url)".contains("s3cr"))
        #expect(throws: StoreError.self) { try PostgresURL("postgres://h/db?sslmode=sometimes") }
        #expect(throws: StoreError.self) { try PostgresURL("postgres://h:99999/db") }
        let env = try PostgresURL("postgresql://bot@[::1]/db", environment: ["PGPASSWORD": "pw"])
        #expect(env.host == "::1" && env.port == 5432 && env.sslMode == "prefer" && !env.redacted.contains("pw"))
    }

    static func referencePath() -> String {
        let path = makeTemporaryDirectory().appendingPathComponent("cursor.sqlite").path
        let store = try! Store(path: path)
        try! replay(capture, into: store, reopen: { store })
        return path
    }
}

/// Several dispatchers on one PostgreSQL outbox: each due message goes to one of them at
/// a time, and to another once the holder's lease has run out.
@Suite struct PostgresOutboxClaimTests {
    @Test(.enabled(if: StoreBackendTests.server != nil))
    func dispatchersClaimDisjointMessagesUntilTheLeaseRunsOut() throws {
        let (setup, url) = try StoreBackendTests.makeStore(.postgres)
        _ = setup
        let admin = try PostgresStore(url)
        try admin.executeForTests("""
            INSERT INTO accounts(did, shard_key) VALUES ('did:plc:claimtest000000000000000', 1);
            INSERT INTO outbox(key, account_id, kind, payload, created_us)
                SELECT 'milestone:' || g, (SELECT id FROM accounts LIMIT 1), 'milestone', '{}', 1000 FROM generate_series(1, 30) g;
            """)
        let first = try PostgresStore(url), second = try PostgresStore(url)
        let now: Int64 = 10_000_000
        let a = try first.dueMessages(nowUS: now, limit: 20).map(\.id)
        let b = try second.dueMessages(nowUS: now, limit: 20).map(\.id)
        #expect(a.count == 20)
        #expect(b.count == 10)
        #expect(Set(a).isDisjoint(with: b))
        #expect(try second.dueMessages(nowUS: now + 1, limit: 50).map(\.id).sorted() == b.sorted())  // its own again
        // The first dispatcher dies: after its lease the second takes its messages.
        #expect(try second.dueMessages(nowUS: now + 31_000_000, limit: 50).count == 30)
        // A finished message is nobody's.
        try second.markSent(a[0], uri: "at://did:plc:bot/app.bsky.feed.post/x", cid: nil, nowUS: now + 32_000_000)
        #expect(try first.dueMessages(nowUS: now + 100_000_000, limit: 50).map(\.id).contains(a[0]) == false)
        #expect(try first.outboxCounts() == ["sent": 1, "pending": 29])
    }
}
