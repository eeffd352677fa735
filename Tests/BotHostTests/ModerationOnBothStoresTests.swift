import BotHost
import BotHostConfig
import BotHostSQLite
import BotHostPostgres
import Foundation
import Plugins
import Rules
import Testing

/// The moderators' commands answer the same on SQLite and on PostgreSQL (`--store`):
/// the shadow-pack diff (`rules diff`), the outbox list, cancel and retry, exclusions and
/// the ledger `explain` reads. PostgreSQL cases run on the server `make test` starts.
@Suite struct ModerationOnBothStoresTests {
    typealias Backend = StoreBackendTests.Backend

    /// A store of `backend` with the limits stream replayed through the default pack and
    /// the anti-farming pack in shadow mode, with opt-ins so the outbox holds messages.
    static func populated(_ backend: Backend) throws -> any BotHostStore {
        let store: any BotHostStore
        switch backend {
        case .sqlite:
            store = try Store(path: makeTemporaryDirectory().appendingPathComponent("m.sqlite").path)
        case .postgres:
            let url = try PostgresAdmin.recreateDatabase(serverURL: StoreBackendTests.server!, name: "m_" + UUID().uuidString.prefix(8).lowercased())
            store = try PostgresStore(url)
        }
        var shadow = try RulePackLimitsTests.pack("anti-farming")
        shadow.pack.mode = .shadow
        var configuration = BotHostConfiguration()
        configuration.bot.did = Events.bot
        configuration.leveling.progression.milestones = [2, 3]
        let packs = PackSelection(live: DefaultPack.load(), shadow: shadow, liveIsDefault: true)
        let commands = (0..<4).map {
            Events.post("did:plc:limits\(String(repeating: "0", count: 15))\(String(format: "%03d", $0))", rev: 1, rkey: Events.tid(5),
                        text: "@bot opt in", facets: Events.mentionFacet(Events.bot))
        }
        try StoreBackendTests.replay(commands + RulePackLimitsTests.limitedStream(), into: store, reopen: { store }, batch: 97,
                                     configuration: configuration, packs: packs)
        return store
    }

    @Test func everyModerationReadAndWriteAnswersTheSameOnBothBackends() throws {
        guard StoreBackendTests.server != nil else { return }
        let sqlite = try Self.populated(.sqlite)
        let postgres = try Self.populated(.postgres)

        let diffs = try [sqlite, postgres].map { try $0.shadowDiff(limit: 5) }
        #expect(diffs[0].shadowPack == "anti-farming")
        #expect(diffs[0].accountsDiffering > 0)
        for diff in diffs.dropFirst() {
            #expect(diff.shadowPack == diffs[0].shadowPack && diff.shadowVersion == diffs[0].shadowVersion)
            #expect(diff.rules == diffs[0].rules)
            #expect(diff.accountsCompared == diffs[0].accountsCompared && diff.accountsDiffering == diffs[0].accountsDiffering)
            #expect(diff.largestDifferences == diffs[0].largestDifferences)
            let counts: [Int] = [diff.liveMilestones, diff.shadowMilestones, diff.onlyShadowMilestones, diff.onlyLiveMilestones,
                                 diff.extraAnnouncements, diff.missingAnnouncements]
            let expected: [Int] = [diffs[0].liveMilestones, diffs[0].shadowMilestones, diffs[0].onlyShadowMilestones,
                                   diffs[0].onlyLiveMilestones, diffs[0].extraAnnouncements, diffs[0].missingAnnouncements]
            #expect(counts == expected)
        }

        var outcomes: [[String]] = []
        for store in [sqlite, postgres] {
            let all = try store.outboxMessages(states: [], did: nil, limit: nil)
            #expect(all.count >= 4)
            let pending = try store.outboxMessages(states: ["pending"], did: nil, limit: 2)
            #expect(pending.count == 2)
            let first = try #require(all.first)
            #expect(try store.outboxMessages(states: [], did: first.did, limit: nil).allSatisfy { $0.did == first.did })
            let cancelled = try store.cancelOutbox(ids: pending.map(\.id), actor: "tester", reason: "test", nowUS: 1)
            #expect(cancelled == 2)
            #expect(try store.cancelOutbox(ids: pending.map(\.id), actor: "tester", reason: "again", nowUS: 2) == 0)
            #expect(try store.retryOutbox(ids: [pending[0].id], allFailed: false, actor: "tester", nowUS: 3) == 1)
            #expect(try store.setExcluded(first.did, excluded: true, actor: "tester", reason: "test"))
            let unknown = try store.setExcluded("did:plc:nobody", excluded: true, actor: "tester", reason: "test")
            #expect(!unknown)
            let audit = try store.auditLog(limit: 10).map(\.action)
            // The second cancel matched nothing: not audited.
            #expect(audit.prefix(3) == ["exclude", "outbox-retry", "outbox-cancel"])
            #expect(audit.filter { $0 == "outbox-cancel" }.count == 1)
            outcomes.append(try store.outboxMessages(states: [], did: nil, limit: nil).map { "\($0.key) \($0.state)" })
            let record = try #require(try store.account(first.did))
            #expect(try store.ledger(account: record.id, limit: 3).count == 3)
        }
        #expect(outcomes[0] == outcomes[1])
    }
}
