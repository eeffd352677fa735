import BotHost
import BotHostConfig
import BotHostSQLite
import Foundation
import GRDB
import Plugins
import Testing

@Suite struct StoreAndReplayTests {
    typealias E = Events

    /// A capture mixing every shape, written to a file.
    func writeCapture(_ directory: URL, name: String = "capture.jsonl") throws -> String {
        var lines: [String] = []
        let dids = (0..<30).map { "did:plc:user\(String(repeating: "0", count: 20))\($0 < 10 ? "0" : "")\($0)" }
        var rev = 1
        for round in 0..<20 {
            for (index, did) in dids.enumerated() {
                rev += 1
                let other = dids[(index + round + 1) % dids.count]
                switch (index + round) % 6 {
                case 0: lines.append(E.post(did, rev: rev, rkey: E.tid(rev), embed: E.images(round % 2 == 0 ? ["alt"] : [""])))
                case 1: lines.append(E.like(did, rev: rev, rkey: E.tid(rev), subject: E.postURI(other, E.tid(rev - 7))))
                case 2: lines.append(E.repost(did, rev: rev, rkey: E.tid(rev), subject: E.postURI(other, E.tid(rev - 31))))
                case 3: lines.append(E.delete(did, rev: rev, collection: "app.bsky.feed.post", rkey: E.tid(rev - 180)))
                case 4: lines.append(E.post(did, rev: rev, rkey: E.tid(rev), embed: E.video(alt: round % 3 == 0 ? "v" : nil)))
                default: lines.append(E.like(did, rev: rev, rkey: E.tid(rev), subject: E.postURI(did, E.tid(rev - 1))))
                }
            }
            if round == 10 { lines.append(contentsOf: lines.suffix(50)) }  // reconnect overlap
        }
        lines.append("this line is not JSON")
        lines.append(#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"rev":"r"}}"#)
        let path = directory.appendingPathComponent(name).path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func replayingTwiceEqualsReplayingOnce() throws {
        let host = try TestHost()
        let capture = try writeCapture(host.directory)
        let first = try host.replay(capture, batchSize: 97)
        #expect(first.malformed == 2)
        #expect(first.malformedByReason == [.invalidJSON: 1, .missingField: 1])
        #expect(first.malformedSamples.map(\.line) == [651, 652])
        #expect(first.duplicates == 50)
        let once = try host.exportAll()
        let ledgerRows = try host.count("SELECT count(*) FROM ledger")
        #expect(once.contains { $0.xp > 0 })

        try host.restart()
        let second = try host.replay(capture, batchSize: 1000)
        #expect(second.xpGranted == 0 && second.xpRevoked == 0)
        #expect(try host.exportAll() == once)
        #expect(try host.count("SELECT count(*) FROM ledger") == ledgerRows)

        // Any prefix again changes nothing either.
        let prefix = host.directory.appendingPathComponent("prefix.jsonl").path
        let text = try String(contentsOfFile: capture, encoding: .utf8)
        try text.split(separator: "\n").prefix(300).joined(separator: "\n").write(toFile: prefix, atomically: true, encoding: .utf8)
        try host.restart()
        try host.replay(prefix)
        #expect(try host.exportAll() == once)
    }

    @Test func batchSizeDoesNotChangeTheResult() throws {
        let a = try TestHost()
        let capture = try writeCapture(a.directory)
        try a.replay(capture, batchSize: 1)
        let b = try TestHost()
        try b.replay(capture, batchSize: 100_000)
        #expect(try a.exportAll() == b.exportAll())
    }

    @Test func zstdCaptureReadsLikeThePlainOne() throws {
        let plain = try TestHost()
        let capture = try writeCapture(plain.directory)
        let compressed = try compressWithZstdTool(capture)
        let plainSummary = try plain.replay(capture)
        let other = try TestHost()
        let zstdSummary = try other.replay(compressed)
        #expect(zstdSummary.events == plainSummary.events)
        #expect(try other.exportAll() == plain.exportAll())
    }

    @Test func aFailedBatchCommitsNothingNotEvenTheCursor() throws {
        let host = try TestHost()
        try host.feed([E.post(E.alice, rev: 1, rkey: E.tid(1))])
        let cursorBefore = try host.store.cursor()
        // A real SQLite failure in the middle of the next batch: a trigger aborts the
        // third ledger insert, after accounts and grants rows were already written.
        let raw = try DatabaseQueue(path: host.dbPath)
        try raw.write { db in
            try db.execute(sql: """
                CREATE TRIGGER fail_batch BEFORE INSERT ON ledger
                WHEN (SELECT count(*) FROM ledger) >= 3 BEGIN SELECT RAISE(ABORT, 'injected failure'); END
                """)
        }
        for i in 2...6 {
            let line = E.post(E.bob, rev: i, rkey: E.tid(i))
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { host.engine.apply(line: UnsafeRawBufferPointer($0), number: i) }
        }
        #expect(throws: DatabaseError.self) { try host.store.write(host.engine.context.closeBatch()) }
        #expect(try host.store.cursor() == cursorBefore)
        #expect(try host.account(E.bob) == nil)
        #expect(try host.count("SELECT count(*) FROM ledger") == 1)
        #expect(try host.count("SELECT count(*) FROM grants") == 1)
        // After a restart (memory rebuilt from the last commit) the same events apply.
        try raw.write { db in try db.execute(sql: "DROP TRIGGER fail_batch") }
        try host.restart()
        try host.feed((2...6).map { E.post(E.bob, rev: $0, rkey: E.tid($0)) })
        #expect(try host.xp(E.bob) == 250)
    }

    @Test func cursorIsTheHighestEventTime() throws {
        let host = try TestHost()
        try host.feed([E.post(E.alice, rev: 5, rkey: E.tid(5)), E.post(E.bob, rev: 3, rkey: E.tid(3))])
        #expect(try host.store.cursor() == 1_700_000_000_000_005)
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("junk.sqlite").path
        try String(repeating: "not a database ", count: 100).write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try Store(path: path) } throws: { error in
            String(describing: error).contains("not a BotHost database or is corrupt")
        }
    }

    @Test func realSamplesReplayToKnownTotals() throws {
        let host = try TestHost()
        let summary = try host.replay(Fixtures.realSamples)
        #expect(summary.events == 187)
        #expect(summary.malformed == 0)
        // Lines 182, 184–186 are older revs of the same test account than earlier lines.
        // Lines 64–66 share one rev (a three-post thread in one commit): all three count.
        #expect(summary.duplicates == 4)
        #expect(summary.accounts == 176)
        #expect(try host.xp("did:plc:u4lmvw4wwzaql3z5kcf3r7h4") == 150)
        // Hand-checked: the test account of lines 180–187 (posts at 50/60 XP).
        #expect(try host.xp("did:plc:vhwscbpufmtoekc5hyz73vpa") == 210)
        #expect(try host.account("did:plc:vhwscbpufmtoekc5hyz73vpa")?.level == 3)
    }
}

extension StoreAndReplayTests {
    @Test func truncatedZstdCaptureIsAnError() throws {
        let host = try TestHost()
        let capture = try writeCapture(host.directory)
        let compressed = try compressWithZstdTool(capture)
        let data = try Data(contentsOf: URL(fileURLWithPath: compressed))
        try data.prefix(data.count - 20).write(to: URL(fileURLWithPath: compressed))
        #expect { try host.replay(compressed) } throws: { String(describing: $0).contains("truncated") }
    }
}

extension StoreAndReplayTests {
    @Test func ledgerHistoryFollowsTheAccountChainAcrossBatchesAndRestarts() throws {
        let host = try TestHost()
        try host.feed([E.post(E.alice, rev: 1, rkey: E.tid(1)), E.post(E.bob, rev: 2, rkey: E.tid(2))])
        try host.feed([E.like(E.alice, rev: 3, rkey: E.tid(3), subject: E.postURI(E.bob, E.tid(2)))])
        try host.restart()
        try host.feed([E.delete(E.alice, rev: 4, collection: "app.bsky.feed.post", rkey: E.tid(1))])
        let account = try #require(try host.account(E.alice))
        let entries = try host.store.ledger(account: account.id, limit: 10)
        #expect(entries.map(\.amount) == [-50, 10, 50])
        #expect(entries.map(\.kind) == ["revoke", "grant", "grant"])
        #expect(entries.map(\.rule) == ["post", "like", "post"])
        #expect(entries.last?.uri == "at://\(E.alice)/app.bsky.feed.post/\(E.tid(1))")
        #expect(try host.store.ledger(account: account.id, limit: 2).map(\.amount) == [-50, 10])
        let bob = try #require(try host.account(E.bob))
        #expect(try host.store.ledger(account: bob.id, limit: 10).map(\.amount) == [50])
    }
}

extension StoreAndReplayTests {
    @Test func aFullDiskStopsWithAClearErrorAndLosesNothingCommitted() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let capture = try writeCapture(directory)
        let path = directory.appendingPathComponent("full.sqlite").path
        // Room for the schema (54 pages since the labels of v13) and a few batches only:
        // SQLite answers SQLITE_FULL, as on a full disk.
        let small = try Store(path: path, maxPageCount: 60)
        let context = BotHostConfiguration().makeContext()
        try small.load(into: context)
        let replayer = Replayer(engine: HostEngine(context: context, plugins: BotHostConfiguration().makePlugins()), store: small,
                                options: .init(batchSize: 25))
        var message = ""
        do {
            _ = try replayer.run(try openCapture(capture))
            Issue.record("the replay did not run out of space")
        } catch {
            message = StoreError.describing(error, path: path).description
        }
        #expect(message.contains("the disk is full"))
        let cursor = try small.cursor() ?? 0
        #expect(cursor > 0)  // earlier batches are committed
        #expect(try small.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") } == "ok")
        // With space again, a restart continues and ends in the uninterrupted state.
        let resumed = try TestHost()
        try resumed.replay(capture)
        let again = try Store(path: path)
        let context2 = BotHostConfiguration().makeContext()
        try again.load(into: context2)
        _ = try Replayer(engine: HostEngine(context: context2, plugins: BotHostConfiguration().makePlugins()), store: again).run(try openCapture(capture))
        var all: [AccountRecord] = []
        try again.forEachAccount { all.append($0) }
        #expect(all == (try resumed.exportAll()))
    }

    @Test func aLockedDatabaseIsAClearErrorAtStart() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("locked.sqlite").path
        _ = try Store(path: path)
        // Another process holding the write lock.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(3)", path]
        let pipe = Pipe()
        holder.standardOutput = pipe
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        _ = pipe.fileHandleForReading.availableData  // waits for "locked"
        #expect { try Store(path: path, busyTimeout: 0.2) } throws: { error in
            String(describing: error).contains("is locked by another process")
        }
    }
}

/// Compresses a file with the `zstd` command-line tool (an independent encoder), returning
/// the `.zst` path.
func compressWithZstdTool(_ path: String) throws -> String {
    let compressed = path + ".zst"
    let zstd = Process()
    zstd.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
    zstd.arguments = ["-q", "-f", path, "-o", compressed]
    try zstd.run()
    zstd.waitUntilExit()
    guard zstd.terminationStatus == 0 else { throw CaptureError("zstd exited with \(zstd.terminationStatus)") }
    return compressed
}
