import BotHost
import BotHostSQLite
import Foundation
import BotHostConfig
import Plugins
import StreakBonus
import Testing
import XRPCClient

/// The streak bonus next to the default leveling pack, over a real SQLite file.
@Suite struct PostingStreakTests {
    static let alice = "did:plc:alice0000000000000000000"
    static let day: Int64 = 86_400_000_000
    static let start: Int64 = 1_700_006_400_000_000  // 2023-11-15T00:00:00Z

    /// A post (or its deletion) at `time`, with a rev and record key from `n`.
    static func post(_ n: Int, at time: Int64, delete: Bool = false, reply: Bool = false) -> String {
        let tid = TID(microseconds: UInt64(time) + UInt64(n), clockID: 0).description
        if delete {
            return #"{"did":"\#(alice)","time_us":\#(time),"kind":"commit","commit":{"rev":"\#(TID(microseconds: UInt64(time) + 500, clockID: 0).description)","operation":"delete","collection":"app.bsky.feed.post","rkey":"\#(TID(microseconds: UInt64(n), clockID: 0).description)"}}"#
        }
        let replyPart = reply ? #","reply":{"root":{"uri":"at://did:plc:x/app.bsky.feed.post/3k","cid":"c"},"parent":{"uri":"at://did:plc:x/app.bsky.feed.post/3k","cid":"c"}}"# : ""
        return #"{"did":"\#(alice)","time_us":\#(time),"kind":"commit","commit":{"rev":"\#(tid)","operation":"create","collection":"app.bsky.feed.post","rkey":"\#(TID(microseconds: UInt64(n), clockID: 0).description)","record":{"$type":"app.bsky.feed.post","text":"day","createdAt":"2026-01-01T00:00:00Z"\#(replyPart)},"cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}"#
    }

    /// A host over a temp SQLite file with the default plugins and the streak plugin.
    final class Host {
        let path: String
        var store: Store
        var engine: HostEngine
        init(path: String) throws {
            self.path = path
            (store, engine) = try Self.open(path)
        }
        static func open(_ path: String) throws -> (Store, HostEngine) {
            let configuration = BotHostConfiguration()
            let store = try Store(path: path)
            let context = configuration.makeContext()
            try store.load(into: context)
            return (store, HostEngine(context: context, plugins: configuration.makePlugins() + [PostingStreakPlugin(step: 5, maxBonus: 10)]))
        }
        func feed(_ lines: [String]) throws {
            for (index, line) in lines.enumerated() {
                var bytes = Array(line.utf8)
                bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: index + 1) }
            }
            try store.write(engine.context.closeBatch())
        }
        func restart() throws { (store, engine) = try Self.open(path) }
        var xp: Int64 { (try? store.account(PostingStreakTests.alice)?.xp) ?? -1 }
    }

    func temporaryDatabase() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("streak-\(UUID().uuidString).sqlite").path
    }

    @Test func consecutiveDaysEarnAGrowingCappedBonus() throws {
        let host = try Host(path: temporaryDatabase())
        // Days 0, 1, 2, 3 in a row (bonus 0, 5, 10, 10: capped), a second post on day 3
        // (no bonus), a reply on day 4 (no streak day), then day 6 after a gap (bonus 0).
        try host.feed([Self.post(1, at: Self.start), Self.post(2, at: Self.start + Self.day),
                       Self.post(3, at: Self.start + 2 * Self.day), Self.post(4, at: Self.start + 3 * Self.day),
                       Self.post(5, at: Self.start + 3 * Self.day + 60_000_000),
                       Self.post(6, at: Self.start + 4 * Self.day, reply: true),
                       Self.post(7, at: Self.start + 6 * Self.day)])
        #expect(host.xp == 7 * 50 + 0 + 5 + 10 + 10)
    }

    @Test func aDeletedPostTakesItsBonusBackAndARestartKeepsTheStreak() throws {
        let path = temporaryDatabase()
        let host = try Host(path: path)
        try host.feed([Self.post(1, at: Self.start), Self.post(2, at: Self.start + Self.day)])
        #expect(host.xp == 2 * 50 + 5)
        try host.restart()
        try host.feed([Self.post(3, at: Self.start + 2 * Self.day)])
        #expect(host.xp == 3 * 50 + 5 + 10)  // the streak survived the restart
        try host.feed([Self.post(3, at: Self.start + 2 * Self.day + 1_000, delete: true)])
        #expect(host.xp == 2 * 50 + 5)  // the post and its bonus are both revoked
        let grants = try host.store.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM ledger l JOIN rules r ON r.id = l.rule_id WHERE r.plugin = 'streak'")
        }
        #expect(grants == 3)  // +5, +10, -10
    }
}
