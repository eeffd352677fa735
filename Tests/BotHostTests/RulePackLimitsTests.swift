import BotHost
import BotHostConfig
import BotHostSQLite
import Foundation
import Plugins
import Rules
import Testing

/// Caps, cooldowns and once-per-subject limits at run time, the built-in default pack,
/// and shadow packs.
@Suite struct RulePackLimitsTests {
    static func pack(_ name: String) throws -> LoadedPack {
        try RulePackFile.load(Fixtures.packageRoot.appendingPathComponent("examples/packs/\(name).yaml").path)
    }

    /// A stream where limits decide: 12 accounts post every 7 s of stream time for two
    /// hours (cooldowns and hourly caps bite), like the same few posts again and again
    /// with unlikes in between (once per subject), and edit some posts.
    static func limitedStream() -> [String] {
        let dids = (0..<12).map { "did:plc:limits\(String(repeating: "0", count: 15))\(String(format: "%03d", $0))" }
        var lines: [String] = []
        var revs = [Int](repeating: 0, count: dids.count)
        var time = 1_000_000
        for step in 0..<1_000 {
            time += 7_000_000
            let who = step % dids.count
            revs[who] += 1
            let did = dids[who]
            let rkey = Events.tid(step * 10 + 1)
            switch step % 5 {
            case 0, 1:
                lines.append(Events.commit(did, rev: revs[who], op: "create", collection: "app.bsky.feed.post", rkey: rkey,
                                           record: #"{"$type":"app.bsky.feed.post","text":"p","createdAt":"2026-01-01T00:00:00Z"}"#, time: time))
            case 2:
                let subject = Events.postURI(dids[(who + 1) % dids.count], Events.tid((step % 3) * 10 + 1))
                lines.append(Events.commit(did, rev: revs[who], op: "create", collection: "app.bsky.feed.like", rkey: rkey,
                                           record: #"{"$type":"app.bsky.feed.like","subject":{"uri":"\#(subject)","cid":"bafy"},"createdAt":"2026-01-01T00:00:00Z"}"#, time: time))
            case 3:
                // Unlike the like made 5 steps ago by the account of 5 steps ago.
                let earlier = (step - 1) % dids.count
                revs[earlier] += 1
                lines.append(Events.commit(dids[earlier], rev: revs[earlier], op: "delete", collection: "app.bsky.feed.like",
                                           rkey: Events.tid((step - 1) * 10 + 1), time: time))
            default:
                let edited = Events.tid((step - 4) * 10 + 1)
                let earlier = (step - 4) % dids.count
                revs[earlier] += 1
                lines.append(Events.commit(dids[earlier], rev: revs[earlier], op: "update", collection: "app.bsky.feed.post", rkey: edited,
                                           record: #"{"$type":"app.bsky.feed.post","text":"p","createdAt":"2026-01-01T00:00:00Z","embed":{"$type":"app.bsky.embed.images","images":[{"alt":"x","image":{"$type":"blob"}}]}}"#, time: time))
            }
        }
        return lines
    }

    func state(_ host: TestHost) throws -> [String] {
        try host.exportAll().map { "\($0.did) \($0.xp) \($0.level)" }
            + host.store.read { db in try String.fetchAll(db, sql: "SELECT account_id || ' ' || slot || ' ' || kind || ' ' || key || ' ' || value FROM rule_limits ORDER BY 1") }
    }

    @Test func limitsAreResumedExactlyAfterRestarts() throws {
        let packs = PackSelection(live: try Self.pack("anti-farming"), shadow: nil, liveIsDefault: false)
        let lines = Self.limitedStream()
        let whole = try TestHost(packs: packs)
        for chunk in stride(from: 0, to: lines.count, by: 50) { try whole.feed(Array(lines[chunk..<min(lines.count, chunk + 50)])) }
        let resumed = try TestHost(packs: packs)
        for chunk in stride(from: 0, to: lines.count, by: 37) {
            try resumed.feed(Array(lines[chunk..<min(lines.count, chunk + 37)]))
            try resumed.restart()
        }
        let expected = try state(whole)
        #expect(try state(resumed) == expected)
        // The limits did bite: the same stream under the default rules grants more.
        let unlimited = try TestHost()
        try unlimited.feed(lines)
        let limitedXP = try whole.exportAll().reduce(0) { $0 + $1.xp }
        let unlimitedXP = try unlimited.exportAll().reduce(0) { $0 + $1.xp }
        #expect(limitedXP > 0 && limitedXP < unlimitedXP)
        #expect(try whole.count("SELECT count(*) FROM rule_limits WHERE kind = 3") > 0)  // once-per keys
        #expect(try whole.count("SELECT count(*) FROM rule_limits WHERE kind = 2") == 12)  // one last-grant time per poster
    }

    @Test func dailyCountersSurviveRestarts() throws {
        let packs = PackSelection(live: try Self.pack("diminishing-returns"), shadow: nil, liveIsDefault: false)
        let lines = (0..<8).map { i in
            Events.commit(Events.alice, rev: i + 1, op: "create", collection: "app.bsky.feed.post", rkey: Events.tid(i + 1),
                          record: #"{"$type":"app.bsky.feed.post","text":"p","createdAt":"2026-01-01T00:00:00Z"}"#, time: (i + 1) * 60_000_000)
        }
        let host = try TestHost(packs: packs)
        for line in lines {
            try host.feed([line])
            try host.restart()
        }
        #expect(try host.xp(Events.alice) == 5 * 50 + 3 * 10)
    }

    @Test func theBuiltInPackIsTheShippedLevelingPack() throws {
        let shipped = try String(contentsOfFile: Fixtures.packageRoot.appendingPathComponent("examples/packs/leveling.yaml").path, encoding: .utf8)
        #expect(DefaultPack.text() == shipped)
        #expect(DefaultPack.load().versionTag == (try Self.pack("leveling")).versionTag)
        // The config's amounts are the pack's numbers: a plain post earns leveling.xp.post.
        var configuration = BotHostConfiguration()
        configuration.leveling.amounts.post = 7
        configuration.leveling.amounts.like = 3
        let host = try TestHost(configuration: configuration)
        try host.feed([Events.post(Events.alice, rev: 1, rkey: Events.tid(1)),
                       Events.like(Events.alice, rev: 2, rkey: Events.tid(2), subject: Events.postURI(Events.bob, Events.tid(9)))])
        #expect(try host.xp(Events.alice) == 10)
        #expect(try host.count("SELECT count(*) FROM rules WHERE plugin = 'leveling' AND rule = 'post'") == 1)
    }

    @Test func aShadowPackChangesNothingLiveAndRecordsWhatItWouldHaveDone() throws {
        let lines = Self.limitedStream()
        let plain = try TestHost()
        try plain.feed(lines)
        var shadowPack = try Self.pack("anti-farming")
        shadowPack.pack.mode = .shadow
        let packs = PackSelection(live: DefaultPack.load(), shadow: shadowPack, liveIsDefault: true)
        let both = try TestHost(packs: packs)
        for chunk in stride(from: 0, to: lines.count, by: 100) { try both.feed(Array(lines[chunk..<min(lines.count, chunk + 100)])) }
        #expect(try both.exportAll().map { "\($0.did) \($0.xp)" } == (try plain.exportAll().map { "\($0.did) \($0.xp)" }))
        let limited = try TestHost(packs: PackSelection(live: try Self.pack("anti-farming"), shadow: nil, liveIsDefault: false))
        try limited.feed(lines)
        // The shadow totals are exactly what the pack grants when it runs live.
        let shadowXP = try both.store.read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT a.did, s.xp FROM shadow_totals s JOIN accounts a ON a.id = s.account_id")
                .map { ($0[0] as String, $0[1] as Int64) })
        }
        for account in try limited.exportAll() where account.xp > 0 {
            let recorded: Int64? = shadowXP[account.did]
            #expect(recorded == account.xp)
        }
        let diff = try both.store.shadowDiff()
        #expect(diff.shadowPack == "anti-farming")
        #expect(diff.accountsDiffering > 0)
        #expect(diff.rules.contains { $0.rule == "post" && $0.shadowXP < $0.liveXP })
    }
}

import GRDB
