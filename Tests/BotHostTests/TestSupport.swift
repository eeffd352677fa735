import BotHost
import BotHostConfig
import BotHostSQLite
import Foundation
import Plugins
import Rules

/// Paths of test fixtures, found from this file's location (no bundle resources).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let realSamples = directory.appendingPathComponent("jetstream-real-samples.jsonl").path
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A unique temporary directory, removed by the caller when done.
func makeTemporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("bothost-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A host over a real SQLite file in a temp directory, fed JSON lines directly.
final class TestHost {
    let directory: URL
    let dbPath: String
    let configuration: BotHostConfiguration
    let packs: PackSelection?
    private(set) var store: Store
    private(set) var engine: HostEngine
    private(set) var boundary: BatchBoundary

    init(configuration: BotHostConfiguration = BotHostConfiguration(), packs: PackSelection? = nil,
         directory: URL = makeTemporaryDirectory()) throws {
        self.directory = directory
        self.configuration = configuration
        self.packs = packs
        dbPath = directory.appendingPathComponent("test.sqlite").path
        store = try Store(path: dbPath)
        let context = configuration.makeContext()
        try store.load(into: context)
        engine = HostEngine(context: context, plugins: configuration.makePlugins(packs: packs))
        boundary = BatchBoundary(store: store)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Applies lines and commits them as one batch.
    func feed(_ lines: [String]) throws {
        for (index, line) in lines.enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: index + 1) }
        }
        try store.write(engine.context.closeBatch())
    }

    /// Applies lines and closes the batch the way the live host does (``BatchBoundary``):
    /// moderator commands queued in the store are applied first.
    func feedThroughBoundary(_ lines: [String]) throws {
        for (index, line) in lines.enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: index + 1) }
        }
        try store.write(try boundary.close(engine.context))
    }

    /// Drops the in-memory state and reloads it from the database, as a restart does.
    func restart() throws {
        store = try Store(path: dbPath)
        let context = configuration.makeContext()
        try store.load(into: context)
        engine = HostEngine(context: context, plugins: configuration.makePlugins(packs: packs))
        boundary = BatchBoundary(store: store)
    }

    /// Replays a capture file through the real reader and replayer.
    @discardableResult
    func replay(_ path: String, batchSize: Int = 1000) throws -> Replayer.Summary {
        let replayer = Replayer(engine: engine, store: store, options: .init(batchSize: batchSize))
        return try replayer.run(try openCapture(path))
    }

    func account(_ did: String) throws -> AccountRecord? { try store.account(did) }

    func xp(_ did: String) throws -> Int64 { try store.account(did)?.xp ?? -1 }

    func exportAll() throws -> [AccountRecord] {
        var all: [AccountRecord] = []
        try store.forEachAccount { all.append($0) }
        return all
    }

    func count(_ sql: String) throws -> Int {
        try store.read { db in try Int.fetchOne(db, sql: sql) ?? -1 }
    }
}

import GRDB

/// Builds Jetstream v1 event lines in the wire's shape.
enum Events {
    static let alice = "did:plc:alice0000000000000000000"
    static let bob = "did:plc:bob00000000000000000000000"
    static let bot = "did:plc:bothostbot0000000000000000"

    /// A TID text for a small counter (monotonic, canonical).
    static func tid(_ n: Int) -> String { TIDText.make(UInt64(1_700_000_000_000_000 + n * 1000)) }

    static func commit(_ did: String, rev: Int, op: String, collection: String, rkey: String,
                       record: String? = nil, time: Int = 0) -> String {
        let recordPart = record.map { ",\"record\":\($0),\"cid\":\"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm\"" } ?? ""
        return """
            {"did":"\(did)","time_us":\(1_700_000_000_000_000 + (time == 0 ? rev : time)),"kind":"commit","commit":{"rev":"\(tid(rev))","operation":"\(op)","collection":"\(collection)","rkey":"\(rkey)"\(recordPart)}}
            """
    }

    static func post(_ did: String, rev: Int, rkey: String, embed: String? = nil, text: String = "hello", facets: String? = nil, op: String = "create") -> String {
        var record = #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"\#(text)""#
        if let facets { record += ",\"facets\":\(facets)" }
        if let embed { record += ",\"embed\":\(embed)" }
        record += "}"
        return commit(did, rev: rev, op: op, collection: "app.bsky.feed.post", rkey: rkey, record: record)
    }

    static func like(_ did: String, rev: Int, rkey: String, subject: String) -> String {
        commit(did, rev: rev, op: "create", collection: "app.bsky.feed.like", rkey: rkey,
               record: #"{"$type":"app.bsky.feed.like","createdAt":"2026-01-01T00:00:00Z","subject":{"cid":"bafy","uri":"\#(subject)"}}"#)
    }

    static func repost(_ did: String, rev: Int, rkey: String, subject: String) -> String {
        commit(did, rev: rev, op: "create", collection: "app.bsky.feed.repost", rkey: rkey,
               record: #"{"$type":"app.bsky.feed.repost","createdAt":"2026-01-01T00:00:00Z","subject":{"cid":"bafy","uri":"\#(subject)"}}"#)
    }

    static func delete(_ did: String, rev: Int, collection: String, rkey: String) -> String {
        commit(did, rev: rev, op: "delete", collection: collection, rkey: rkey)
    }

    static func postURI(_ did: String, _ rkey: String) -> String { "at://\(did)/app.bsky.feed.post/\(rkey)" }

    static func images(_ alts: [String]) -> String {
        let items = alts.map { #"{"alt":"\#($0)","image":{"$type":"blob","ref":{"$link":"bafkrei"},"mimeType":"image/jpeg","size":1}}"# }
        return #"{"$type":"app.bsky.embed.images","images":[\#(items.joined(separator: ","))]}"#
    }

    static func video(alt: String?) -> String {
        let altPart = alt.map { ",\"alt\":\"\($0)\"" } ?? ""
        return #"{"$type":"app.bsky.embed.video","video":{"$type":"blob","ref":{"$link":"bafkrei"},"mimeType":"video/mp4","size":1}\#(altPart)}"#
    }

    static func gallery(_ alts: [String]) -> String {
        let items = alts.map { #"{"alt":"\#($0)","image":{"$type":"blob","ref":{"$link":"bafkrei"},"mimeType":"image/jpeg","size":1},"aspectRatio":{"width":1,"height":1}}"# }
        return #"{"$type":"app.bsky.embed.gallery","items":[\#(items.joined(separator: ","))]}"#
    }

    static func recordWithMedia(_ media: String) -> String {
        #"{"$type":"app.bsky.embed.recordWithMedia","record":{"$type":"app.bsky.embed.record","record":{"cid":"bafy","uri":"at://did:plc:x/app.bsky.feed.post/3abc"}},"media":\#(media)}"#
    }

    static let external = #"{"$type":"app.bsky.embed.external","external":{"uri":"https://example.com","title":"t","description":"d"}}"#

    /// An identity event; the relay `seq` increases with `time` unless given (0: none).
    static func identity(_ did: String, handle: String, time: Int, seq: Int? = nil) -> String {
        let seqPart = (seq ?? time) > 0 ? ",\"seq\":\(seq ?? time)" : ""
        return #"{"did":"\#(did)","time_us":\#(1_700_000_000_000_000 + time),"kind":"identity","identity":{"did":"\#(did)","handle":"\#(handle)"\#(seqPart),"time":"2026-01-01T00:00:00Z"}}"#
    }

    /// An account event; the relay `seq` increases with `time` unless given (0: none).
    static func account(_ did: String, active: Bool, status: String? = nil, time: Int, seq: Int? = nil) -> String {
        let statusPart = status.map { ",\"status\":\"\($0)\"" } ?? ""
        let seqPart = (seq ?? time) > 0 ? ",\"seq\":\(seq ?? time)" : ""
        return #"{"did":"\#(did)","time_us":\#(1_700_000_000_000_000 + time),"kind":"account","account":{"active":\#(active),"did":"\#(did)"\#(seqPart)\#(statusPart),"time":"2026-01-01T00:00:00Z"}}"#
    }

    static func mentionFacet(_ did: String) -> String {
        #"[{"features":[{"$type":"app.bsky.richtext.facet#mention","did":"\#(did)"}],"index":{"byteEnd":4,"byteStart":0}}]"#
    }
}

import XRPCClient

enum TIDText {
    static func make(_ micros: UInt64) -> String { TID(microseconds: micros, clockID: 0).description }
}
