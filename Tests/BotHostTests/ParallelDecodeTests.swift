import BotHost
import Foundation
import Plugins
import Testing

/// The replay pipeline with decode workers: the state, the counts and the malformed-line
/// reports are exactly those of the single-threaded replay, for any number of workers
/// and chunk size (a line longer than a chunk included).
@Suite struct ParallelDecodeTests {
    /// Real events with malformed lines mixed in, and one long valid post.
    static func capture(_ directory: URL) throws -> String {
        var lines = try String(contentsOfFile: Fixtures.realSamples, encoding: .utf8).split(separator: "\n").map(String.init)
        for index in stride(from: 5, to: lines.count, by: 37) { lines[index] = String(lines[index].prefix(lines[index].count / 2)) }
        for index in stride(from: 11, to: lines.count, by: 53) { lines.insert(#"{"did":42,"time_us":1,"kind":"commit"}"#, at: index) }
        lines.insert(Events.post(Events.alice, rev: 1, rkey: Events.tid(1), text: String(repeating: "long ", count: 3_000)), at: 40)
        lines.insert("", at: 41)
        lines.insert("not json at all", at: 42)
        let path = directory.appendingPathComponent("mixed.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func replay(_ capture: String, workers: Int, chunkBytes: Int, in directory: URL) throws -> (Replayer.Summary, [String], [String]) {
        let host = try TestHost(directory: directory.appendingPathComponent("w\(workers)-\(chunkBytes)"))
        var options = Replayer.Options(batchSize: 97, workers: workers)
        options.decodeChunkBytes = chunkBytes
        let summary = try Replayer(engine: host.engine, store: host.store, options: options).run(try openCapture(capture))
        let state = try host.exportAll().map { "\($0.did) \($0.xp) \($0.level) \($0.handle ?? "")" }
        let malformed = summary.malformedSamples.map { "\($0.line) \($0.error.reason.rawValue) \($0.error.detail)" }
        return (summary, state, malformed)
    }

    @Test(arguments: [(2, 4_096), (4, 1 << 20), (3, 512)])
    func resultsDoNotDependOnTheWorkers(workers: Int, chunkBytes: Int) throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("w1-0"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("w\(workers)-\(chunkBytes)"), withIntermediateDirectories: true)
        let capture = try Self.capture(directory)
        let (one, oneState, oneMalformed) = try replay(capture, workers: 1, chunkBytes: 0, in: directory)
        let (many, manyState, manyMalformed) = try replay(capture, workers: workers, chunkBytes: chunkBytes, in: directory)
        #expect(one.events > 100 && one.malformed > 5, "\(one.malformed)")
        #expect(many.lines == one.lines && many.events == one.events && many.malformed == one.malformed)
        #expect(many.malformedByReason == one.malformedByReason)
        #expect(manyMalformed == oneMalformed)
        #expect(manyState == oneState)
        #expect(many.xpGranted == one.xpGranted && many.batches == one.batches && many.cursorUS == one.cursorUS)
        #expect(oneState.contains { $0.hasPrefix(Events.alice + " 50 ") })  // the long line was applied
    }
}
