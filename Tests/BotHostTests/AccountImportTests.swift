import BotHost
import BotHostConfig
import BotHostPostgres
import BotHostSQLite
import Foundation
import Testing

/// `bothost import accounts`: the export format read back, refused row by row with its
/// line, and applied as keyed, audited ledger entries on both stores.
@Suite struct AccountImportTests {
    static let jsonl = """
        {"did":"did:plc:aaaa0000000000000000aaaa","handle":"a.example.com","xp":1200,"level":4,"milestones":[],"status":"active","consent":"none"}
        {"did":"did:web:example.com","handle":null,"xp":0,"level":1,"milestones":[],"status":"active","consent":"opted_in"}

        {"did":"did:plc:bbbb0000000000000000bbbb","handle":"b.example.com","xp":75,"level":2,"milestones":[],"status":"active","consent":"none"}
        """
    static let csv = """
        did,handle,xp,level,milestones,status,consent
        did:plc:bbbb0000000000000000bbbb,b.example.com,75,2,,active,none
        did:plc:aaaa0000000000000000aaaa,"a.example.com, quoted",1200,4,"5;10",active,none
        did:web:example.com,,0,1,,active,opted_in
        """

    @Test func bothFormatsReadTheSameRowsAndTag() throws {
        let a = try AccountImport.parse(Array(Self.jsonl.utf8), file: "a.jsonl")
        let b = try AccountImport.parse(Array(Self.csv.utf8), file: "b.csv")
        #expect(a.map(\.did) == ["did:plc:aaaa0000000000000000aaaa", "did:web:example.com", "did:plc:bbbb0000000000000000bbbb"])
        #expect(a.map(\.xp) == [1200, 0, 75])
        #expect(a.map(\.line) == [1, 2, 4])
        #expect(Set(b.map(\.did)) == Set(a.map(\.did)))
        #expect(AccountImport.tag(a) == AccountImport.tag(b))
        #expect(AccountImport.tag(a) != AccountImport.tag(Array(a.dropLast())))
    }

    @Test(arguments: [
        ("{\"did\":\"did:plc:x\",\"xp\":1}\n{\"did\":\"x\",\"xp\":1}\n", "f:2: error: 'x' is not a DID"),
        ("{\"did\":\"did:plc:x\",\"xp\":-1}\n", "f:1: error: xp -1 is outside 0…1000000000"),
        ("{\"did\":\"did:plc:x\",\"xp\":1000000001}\n", "f:1: error: xp 1000000001 is outside"),
        ("{\"did\":\"did:plc:x\",\"xp\":1.5}\n", "f:1: error: expected \"xp\": an integer"),
        ("{\"did\":\"did:plc:x\",\"xp\":1}\n{\"did\":\"did:plc:x\",\"xp\":2}\n", "f:2: error: did:plc:x is also on line 1"),
        ("{\"did\":\"did:plc:x\",\"xp\":1}\n{\"did\":\n", "f:2: error: not a JSON object"),
        ("[1,2]\n", "f:1: error: expected a CSV header with did and xp"),
        ("did,handle,points\ndid:plc:x,,1\n", "f:1: error: expected a CSV header with did and xp"),
        ("did,xp\ndid:plc:x,1,2\n", "f:2: error: expected 2 fields, got 3"),
        ("did,xp\ndid:plc:x:,1\n", "f:2: error: 'did:plc:x:' is not a DID"),
        ("", "f:1: error: the file has no accounts"),
    ])
    func badRowsAreRefusedWithTheirLine(_ text: String, _ expected: String) {
        do {
            _ = try AccountImport.parse(Array(text.utf8), file: "f")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }

    /// Applied on each store: new and existing accounts, a moderation/import ledger entry
    /// each, an audit line each; the same rows again change nothing.
    @Test(arguments: StoreBackendTests.backends)
    func importIsKeyedAuditedAndIdempotent(_ backend: StoreBackendTests.Backend) throws {
        let store: any BotHostStore
        switch backend {
        case .sqlite: store = try Store(path: makeTemporaryDirectory().appendingPathComponent("i.sqlite").path)
        case .postgres:
            store = try PostgresStore(try PostgresAdmin.recreateDatabase(serverURL: StoreBackendTests.server!, name: "i_" + UUID().uuidString.prefix(8).lowercased()))
        }
        let configuration = BotHostConfiguration()
        // An account that exists here already, with 50 XP of its own.
        do {
            let context = configuration.makeContext()
            try store.load(into: context)
            let engine = HostEngine(context: context, plugins: configuration.makePlugins())
            var line = Array(Events.post("did:plc:bbbb0000000000000000bbbb", rev: 1, rkey: "3kaaaaaaaaaa2").utf8)
            line.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: 1) }
            try store.commit(context.closeBatch())
        }
        let rows = try AccountImport.parse(Array(Self.jsonl.utf8), file: "a.jsonl")
        let reason = "import \(AccountImport.tag(rows)): a.jsonl"
        func apply() throws -> [String] {
            let ids = try store.enqueueImport(rows, reason: reason, actor: "tester")
            #expect(ids.count == 3)
            let context = configuration.makeContext()
            try store.load(into: context)
            var boundary = BatchBoundary(store: store)
            let batch = try boundary.close(context)
            try store.commit(batch)
            return batch.commandsApplied.filter { ids.contains($0.id) }.map(\.result)
        }
        let first = try apply()
        #expect(first == ["xp 0 → 1200, level 5", "xp 0 → 0, level 1", "xp 50 → 125, level 2"], "\(first)")
        #expect(try store.account("did:plc:aaaa0000000000000000aaaa")?.xp == 1200)
        #expect(try store.account("did:web:example.com")?.xp == 0)
        #expect(try store.account("did:plc:bbbb0000000000000000bbbb")?.xp == 125)
        let account = try #require(try store.account("did:plc:aaaa0000000000000000aaaa"))
        let ledger = try store.ledger(account: account.id, limit: 10)
        #expect(ledger.map { "\($0.plugin)/\($0.rule) \($0.kind) \($0.amount)" } == ["moderation/import grant 1200"])
        #expect(ledger.first?.uri.hasSuffix("/bothost.import/imp-\(AccountImport.tag(rows))") == true)
        let audits = try store.auditLog(limit: 10).filter { $0.action == "import" }
        #expect(audits.count == 3)
        #expect(audits.allSatisfy { $0.actor == "tester" && $0.detail.contains(reason) })
        // The same rows again: nothing changes.
        let second = try apply()
        #expect(second == Array(repeating: "already imported from this file", count: 3))
        #expect(try store.account("did:plc:aaaa0000000000000000aaaa")?.xp == 1200)
        #expect(try store.account("did:plc:bbbb0000000000000000bbbb")?.xp == 125)
        #expect(try store.auditLog(limit: 20).filter { $0.action == "import" }.count == 3)
    }
}
