import BotHost
import BotHostSQLite
import Foundation
import Testing

/// A plugin written only against the public API, as a developer's package would.
final class LikeBonus: Plugin {
    let id = "like-bonus"
    let collections = ["app.bsky.feed.*"]
    private var rule = RuleRef.unregistered
    private var like: UInt16 = 0
    func register(in context: PluginContext) {
        rule = context.registerRule(plugin: id, rule: "like", version: "1")
        like = context.collectionID("app.bsky.feed.like")
    }
    func handle(_ event: Event, in context: PluginContext) {
        guard context.currentCollection == like else { return }
        if event.commit?.operation == .delete { context.revoke(rule: rule) } else { context.grant(amount: 1, rule: rule) }
    }
}

struct PluginAPITests {
    @Test func aThirdPartyPluginRunsThroughTheHost() throws {
        let directory = makeTemporaryDirectory()
        let store = try Store(path: directory.appendingPathComponent("p.sqlite").path)
        let context = PluginContext(progression: .default)
        try store.load(into: context)
        let engine = HostEngine(context: context, plugins: [LikeBonus()])
        let lines = [
            Events.like(Events.alice, rev: 1, rkey: Events.tid(1), subject: Events.postURI(Events.bob, Events.tid(9))),
            Events.like(Events.alice, rev: 2, rkey: Events.tid(2), subject: Events.postURI(Events.bob, Events.tid(8))),
            Events.post(Events.alice, rev: 3, rkey: Events.tid(3)),  // prefix match, but not a like
            Events.delete(Events.alice, rev: 4, collection: "app.bsky.feed.like", rkey: Events.tid(1)),
        ]
        for (number, line) in lines.enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: number + 1) }
        }
        try store.write(context.closeBatch())
        #expect(try store.account(Events.alice)?.xp == 1)
        let entries = try store.ledger(account: try #require(try store.account(Events.alice)).id, limit: 5)
        #expect(entries.map(\.plugin) == ["like-bonus", "like-bonus", "like-bonus"])
        #expect(entries.map(\.amount) == [-1, 1, 1])
    }

    @Test func collectionPatternsMatchPrefixes() {
        #expect(HostEngine.matches("app.bsky.feed.like", "app.bsky.feed.*"))
        #expect(!HostEngine.matches("app.bsky.feedx.like", "app.bsky.feed.*"))
        #expect(HostEngine.matches("app.bsky.feed.like", "app.bsky.feed.like"))
        #expect(!HostEngine.matches("app.bsky.feed.likes", "app.bsky.feed.like"))
    }
}
