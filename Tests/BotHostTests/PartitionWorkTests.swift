@testable import BotHost
import BotHostConfig
import Plugins
import Foundation
import Testing

/// A partitioned host does 1/N of the work (docs/scaling.md): another partition's event
/// is passed on its DID and time without decoding, except the posts every partition
/// applies (a repost reads the reposted post's class).
@Suite struct PartitionWorkTests {
    typealias E = Events

    @Test func prescanReadsTheLeadingFieldsOrGivesUp() throws {
        let like = E.like(E.alice, rev: 3, rkey: E.tid(3), subject: E.postURI(E.bob, E.tid(1)))
        try withBytes(like) { bytes in
            let scan = try #require(V1Prescan.scan(bytes), "\(like)")
            #expect(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[scan.did]), as: UTF8.self) == E.alice)
            #expect(scan.timeUS == 1_700_000_000_000_003)
            #expect(scan.isCommit == true)
            let range = try #require(V1Prescan.collectionValue(in: bytes, from: scan.end))
            #expect(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) == "app.bsky.feed.like")
        }
        try withBytes(E.identity(E.alice, handle: "alice.test", time: 9)) { bytes in
            #expect(V1Prescan.scan(bytes)?.isCommit == false)
        }
        // Any other layout is left to the full decoder.
        for line in [#"{"did": "did:plc:a","time_us":1,"kind":"commit"}"#, #"{"time_us":1,"did":"did:plc:a"}"#,
                     #"{"did":"did:plc:\u0061","time_us":1}"#, #"{"did":"did:plc:a","time_us":x}"#, "{}", ""] {
            try withBytes(line) { #expect(V1Prescan.scan($0) == nil, "\(line)") }
        }
    }

    @Test func aPartitionAppliesItsOwnEventsAndEveryPostOnly() throws {
        let two = try Partition(parsing: "0/2")
        // One account of each partition.
        let candidates = (10..<74).map { "did:plc:partitiontest\($0)00000000000" }
        let mine = try #require(candidates.first { two.owns(did: $0) })
        let theirs = try #require(candidates.first { !two.owns(did: $0) })
        let lines = [
            E.post(theirs, rev: 1, rkey: E.tid(1), embed: E.images(["a cat"])),          // 70, applied by both
            E.repost(mine, rev: 2, rkey: E.tid(2), subject: E.postURI(theirs, E.tid(1))), // the post's class: 70
            E.post(mine, rev: 3, rkey: E.tid(3)),                                         // 50
            E.like(theirs, rev: 4, rkey: E.tid(4), subject: E.postURI(mine, E.tid(3))),  // theirs: passed
            E.repost(theirs, rev: 5, rkey: E.tid(5), subject: E.postURI(mine, E.tid(3))),// theirs: passed
            E.like(mine, rev: 6, rkey: E.tid(6), subject: E.postURI(theirs, E.tid(1))),  // 10
            E.identity(theirs, handle: "theirs.test", time: 7),                           // theirs: passed
        ]
        func run(_ partition: Partition?) -> PluginContext {
            let configuration = BotHostConfiguration()
            let context = configuration.makeContext()
            context.residency.partition = partition
            let engine = HostEngine(context: context, plugins: configuration.makePlugins(packs: nil))
            for (index, line) in lines.enumerated() { withBytes(line) { engine.apply(line: $0, number: index + 1) } }
            return context
        }
        let whole = run(nil)
        let part = run(two)
        func xp(_ context: PluginContext, _ did: String) -> Int64? { context.state.dids.find(did).map { context.state.accounts[$0].xp } }
        #expect(xp(whole, mine) == 130)
        #expect(xp(part, mine) == 130)
        #expect(part.totals.foreign == 3)
        #expect(whole.totals.foreign == 0)
        // The other partition's post was applied (its grant is what the repost read); its
        // like and repost were not, and its identity event did not name it.
        #expect(xp(part, theirs) == 70)
        #expect(xp(whole, theirs) == Int64(70 + 10 + 50))
        #expect(part.state.dids.find(theirs).flatMap { part.state.handles[$0] } == nil)
        // Stream time passed all the same.
        #expect(part.cursorUS == whole.cursorUS)
    }

    /// A plugin that reads what it is told to and does nothing (the filtering is the test).
    final class Reader: Plugin {
        let id = "reader"
        let collections: [String]
        init(_ collections: [String]) { self.collections = collections }
        func register(in context: PluginContext) {}
        func handle(_ event: Event, in context: PluginContext) {}
    }

    /// Another partition's commit of a collection no plugin reads is dropped as filtered;
    /// once a reloaded plugin reads every collection (`*`) it is passed as foreign. (The
    /// "some plugin reads `*`" answer was computed once and kept across reloads.)
    @Test func aReloadedPluginChangesWhichForeignCommitsAreFiltered() throws {
        let two = try Partition(parsing: "0/2")
        let candidates = (10..<74).map { "did:plc:partitiontest\($0)00000000000" }
        let theirs = try #require(candidates.first { !two.owns(did: $0) })
        let follow = E.commit(theirs, rev: 1, op: "create", collection: "app.bsky.graph.follow", rkey: E.tid(1),
                              record: #"{"$type":"app.bsky.graph.follow","subject":"did:plc:x","createdAt":"2026-01-01T00:00:00Z"}"#)
        let context = BotHostConfiguration().makeContext()
        context.residency.partition = two
        let engine = HostEngine(context: context, plugins: [Reader(["app.bsky.feed.like"])])
        withBytes(follow) { engine.apply(line: $0, number: 1) }
        #expect(context.totals.filtered == 1 && context.totals.foreign == 0)
        #expect(engine.replacePlugin(id: "reader", with: Reader(["*"])))
        let again = follow.replacingOccurrences(of: E.tid(1), with: E.tid(2))
        withBytes(again) { engine.apply(line: $0, number: 2) }
        #expect(context.totals.filtered == 1 && context.totals.foreign == 1)
    }

    private func withBytes<T>(_ line: String, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        var bytes = Array(line.utf8)
        return try bytes.withUnsafeMutableBytes { try body(UnsafeRawBufferPointer($0)) }
    }
}
