@testable import BotHost
import BotHostConfig
import BotHostSQLite
import Foundation
import GRDB
import Plugins
import Rules
import Testing
import XRPCClient

/// One named test per attack of docs/security.md: what a remote party sends, and the
/// exact outcome (state unchanged, counted as what, which error). Nothing here may trap.
@Suite struct AbuseTests {
    typealias E = Events
    let alice = E.alice, bob = E.bob

    private func botHost(_ configure: (inout BotHostConfiguration) -> Void = { _ in }) throws -> TestHost {
        var config = BotHostConfiguration()
        config.bot.did = E.bot
        config.consent.confirmCommands = false
        configure(&config)
        return try TestHost(configuration: config)
    }

    // MARK: 1. Interned ids

    @Test func inventedCollectionsShareOneIDAndNeverTrapEvenAfterARestart() throws {
        let host = try botHost()
        // 5,000 records in invented collections, and likes naming 5,000 more in their subjects.
        var lines: [String] = []
        var rev = 1
        for index in 0..<5_000 {
            lines.append(E.commit(alice, rev: rev, op: "create", collection: "com.evil.c\(index)", rkey: E.tid(rev), record: #"{"x":1}"#))
            rev += 1
            lines.append(E.like(bob, rev: rev, rkey: E.tid(rev), subject: "at://\(alice)/com.evil.s\(index)/\(E.tid(rev))"))
            rev += 1
        }
        try host.feed(lines)
        let stored = try host.count("SELECT count(*) FROM collections")
        #expect(stored <= HostState.maxCollections)
        #expect(try host.count("SELECT count(*) FROM collections WHERE nsid = '(other)'") == 1)
        // No id reaches the shadow flag, and nothing the likes named was interned.
        #expect(try host.count("SELECT count(*) FROM collections WHERE id >= 32768") == 0)
        #expect(try host.count("SELECT count(*) FROM collections WHERE nsid LIKE 'com.evil.s%'") == 0)
        #expect(host.engine.limits.count(.collections) > 0)
        // A restart loads the table and the host goes on: a post still earns its XP.
        try host.restart()
        let before = try host.xp(alice)
        try host.feed([E.commit(alice, rev: rev, op: "create", collection: "com.evil.after", rkey: E.tid(rev), record: #"{"x":1}"#),
                       E.post(alice, rev: rev + 1, rkey: E.tid(rev + 1))])
        #expect(try host.xp(alice) == before + 50)
        #expect(try host.count("SELECT count(*) FROM collections") == stored)
    }

    // MARK: 2. Rate-limit headers

    @Test func outOfRangeRateLimitHeadersAreClampedNotTrusted() throws {
        let now: Int64 = 1_780_000_000
        func limit(_ headers: [(String, String)]) -> RateLimit? {
            RateLimit(HTTPResponse(status: 200, headers: headers.map { (name: $0.0, value: $0.1) }, body: [], newConnection: false), nowSeconds: now)
        }
        let huge = limit([("ratelimit-remaining", "99999999999999999999999"), ("ratelimit-limit", "-7"),
                          ("ratelimit-reset", "9223372036854775807")])
        #expect(huge?.remaining == RateLimit.maxCount)
        #expect(huge?.limit == 0)
        #expect(huge?.reset == now + RateLimit.maxResetAhead)
        #expect(huge?.clamped == true)
        let past = limit([("ratelimit-reset", "-9223372036854775808")])
        #expect(past?.reset == now)
        let delta = limit([("ratelimit-remaining", "10"), ("ratelimit-reset", "60")])
        #expect(delta?.reset == now + 60)
        #expect(delta?.clamped == false)
        #expect(limit([("ratelimit-remaining", "lots")])?.remaining == nil)
        // What an older version stored is validated again when loaded.
        let nowUS = now * 1_000_000
        let state = WriteBudgetState(nowUS: nowUS, dayWrites: [], rateLimit: "-9223372036854775808,9223372036854775807,9223372036854775807")
        #expect(state.serverRemaining == 0)
        #expect(state.serverLimit == RateLimit.maxCount)
        #expect(state.serverReset == now + RateLimit.maxResetAhead)
        let wait = WriteBudget().waitUntil(points: 3, state: state, nowUS: nowUS)
        #expect(wait == (now + RateLimit.maxResetAhead + 1) * 1_000_000)
    }

    // MARK: 3. Moderator amounts

    @Test func hugeAdjustmentsAreRefusedAndLevelsAreClosedForm() throws {
        // Any XP gives the exact level in a bounded number of steps, whatever the curve.
        for curve in [LevelCurve.default, LevelCurve(base: 1, step: 1), LevelCurve(base: 1, step: 0), LevelCurve(base: 7, step: 1_000_000)] {
            for xp: Int64 in [.max, .max / 3, 1 << 40, 123_456_789, 1] {
                let level = curve.level(forXP: xp)
                #expect(level >= 1 && level <= LevelCurve.maxLevel)
                #expect(curve.xpToReach(level: level) <= xp)
                if level < LevelCurve.maxLevel { #expect(curve.xpToReach(level: level + 1) > xp) }
            }
        }
        let host = try botHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1))])
        let refused = try host.store.enqueue(.adjust, did: alice, amount: .max, reason: "x", actor: "t")
        let accepted = try host.store.enqueue(.adjust, did: alice, amount: ModeratorCommand.adjustRange.upperBound, reason: "x", actor: "t")
        try host.feedThroughBoundary([])
        #expect(try host.store.command(refused)?.result?.hasPrefix("refused") == true)
        #expect(try host.store.command(accepted)?.state == "applied")
        #expect(try host.xp(alice) == 50 + 1_000_000_000)
        // Repeated maximal adjustments saturate; they never wrap to a negative total.
        for _ in 0..<3 { _ = try host.store.enqueue(.adjust, did: alice, amount: -1_000_000_000, reason: "x", actor: "t") }
        try host.feedThroughBoundary([])
        #expect(try host.xp(alice) == 0)
        #expect(try host.account(alice)?.level == 1)
    }

    // MARK: 7. Consent commands

    @Test func consentCommandsAreTheFirstWordsAfterTheMention() {
        func parse(_ text: String) -> ConsentCommand? {
            // The bot's mention is the first 4 bytes ("@bot"), as its facet says.
            ConsentCommand.parse(Array(text.utf8), removing: [(0, 4)])
        }
        #expect(parse("@bot opt in") == .set(.optedIn))
        #expect(parse("@bot OPT \n  In please") == .set(.optedIn))
        #expect(parse("@bot, opt out.") == .set(.optedOut))
        #expect(parse("@bot no ping!") == .set(.noPing))
        #expect(parse("@bot rank me") == .ranked(true))
        #expect(parse("@bot no rank") == .ranked(false))
        #expect(parse("@bot status?") == .status)
        #expect(parse("@bot I'd never opt in") == nil)
        #expect(parse("@bot please don't opt me in") == nil)
        #expect(parse("@bot opt-in") == nil)
        #expect(parse("@bot opt inside") == nil)
        #expect(parse("@bot optin") == nil)
        #expect(parse("@bot") == nil)
        // The mention may come last: "opt in @bot" with the mention at bytes 7..<11.
        #expect(ConsentCommand.parse(Array("opt in @bot".utf8), removing: [(7, 11)]) == .set(.optedIn))
        // A facet index outside the text is no command: consent is never guessed.
        #expect(ConsentCommand.parse(Array("@bot opt in".utf8), removing: [(0, 400)]) == nil)
        #expect(ConsentCommand.parse(Array("@bot opt in".utf8), removing: [(5, 2)]) == nil)
    }

    @Test func aPostThatOnlyMentionsOptingInDoesNotOptIn() throws {
        let host = try botHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1), text: "@bot I'd never opt in", facets: E.mentionFacet(E.bot))])
        #expect(try host.account(alice)?.consent == "none")
        try host.feed([E.post(alice, rev: 2, rkey: E.tid(2), text: "@bot Opt In", facets: E.mentionFacet(E.bot))])
        #expect(try host.account(alice)?.consent == "opted_in")
        // "no ping and opt in" begins with "no ping": never widened past what was said first.
        try host.feed([E.post(bob, rev: 1, rkey: E.tid(1), text: "@bot no ping and opt in", facets: E.mentionFacet(E.bot))])
        #expect(try host.account(bob)?.consent == "no_ping")
    }

    @Test func aModeratorsExclusionWinsOverRankMeAndReachesTheRunningHost() throws {
        let host = try botHost { config in
            config.rankings.thresholds = [1]
            config.rankings.margin = 0
            config.rankings.checkEveryUS = 60_000_000
        }
        let minute = 60_000_000
        func posts(_ did: String, _ count: Int, rev: Int, time: Int) -> [String] {
            (0..<count).map { E.commit(did, rev: rev + $0, op: "create", collection: "app.bsky.feed.post", rkey: E.tid(rev + $0),
                                       record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"hi"}"#, time: time + $0) }
        }
        let tick = { (time: Int) in E.identity("did:plc:tick00000000000000000000", handle: "tick.test", time: time + minute + 1) }
        try host.feedThroughBoundary(posts(bob, 1, rev: 1, time: 1))
        // The moderator excludes alice while the host runs; she then says "rank me".
        #expect(try host.store.setExcluded(alice, excluded: true, actor: "mod", reason: "spam") == false)  // not met yet
        try host.feedThroughBoundary(posts(alice, 1, rev: 1, time: 2))
        #expect(try host.store.setExcluded(alice, excluded: true, actor: "mod", reason: "spam"))
        // The running host's next batch boundary (seconds at most) takes the exclusion in.
        try host.feedThroughBoundary([])
        try host.feedThroughBoundary([E.post(alice, rev: 2, rkey: E.tid(2), text: "@bot rank me", facets: E.mentionFacet(E.bot))]
                                     + posts(alice, 10, rev: 3, time: 3) + [tick(3)])
        let entered = try host.store.read { db in
            try String.fetchAll(db, sql: "SELECT a.did FROM rank_events e JOIN accounts a ON a.id = e.account_id WHERE e.kind = 'entered'")
        }
        #expect(!entered.contains(alice))
        #expect(entered.contains(bob))
        #expect(try host.store.top(limit: 10).map(\.did) == [bob])
    }

    // MARK: 9. Trusting the stream

    @Test func anEventDatedInTheFutureIsCountedAndDoesNotMoveTheCursor() throws {
        let host = try botHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1))])
        let cursor = host.engine.context.cursorUS
        let future = 1_700_000_000_000_000 + 400 * 365 * 86_400_000_000
        let line = E.post(alice, rev: 2, rkey: E.tid(2)).replacingOccurrences(of: "\"time_us\":1700000000000002", with: "\"time_us\":\(future)")
        #expect(line.contains("\(future)"))
        try host.feed([line])
        #expect(host.engine.context.cursorUS == cursor)
        #expect(host.engine.malformed[.badValue] == 1)
        #expect(host.engine.limits.count(.futureEvent) == 1)
        #expect(try host.xp(alice) == 50)
    }

    @Test func plainTextJetstreamIsRefusedOffLoopback() throws {
        #expect(throws: CaptureError.self) { try JetstreamEndpoint("ws://jetstream.example.com/subscribe") }
        #expect(throws: CaptureError.self) { try JetstreamEndpoint("ws://127.0.0.1.evil.com/subscribe") }
        #expect(try JetstreamEndpoint("ws://127.0.0.1:6008/subscribe").wire == .v1)
        #expect(try JetstreamEndpoint("ws://jetstream.example.com/subscribe", allowPlaintext: true).wire == .v1)
        #expect(try JetstreamEndpoint("wss://jetstream.example.com/subscribe").wire == .v1)
    }

    @Test func invalidHandlesNeverReachTheStore() throws {
        let host = try botHost()
        try host.feed([E.identity(alice, handle: "Alice.Example.COM", time: 1)])
        #expect(try host.account(alice)?.handle == "alice.example.com")
        for (index, bad) in ["<script>alert(1)</script>.com", "a..b", "-a.com", "a.1com", "nodots", "handle.invalid",
                             String(repeating: "a", count: 64) + ".com", "a\\u0000b.com", "ünï.com"].enumerated() {
            try host.feed([E.identity(alice, handle: bad, time: 2 + index)])
            #expect(try host.account(alice)?.handle == "alice.example.com", "\(bad)")
        }
        #expect(host.engine.limits.count(.invalidHandle) == 8)
        #expect(Handle.normalized("xn--bcher-kva.example") == "xn--bcher-kva.example")
    }

    // MARK: 5. Memory bounded by bytes

    /// Runs `zstd` (the CLI) with `arguments` on `input`.
    private func zstdCLI(_ arguments: [String], _ input: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["zstd"] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let writer = Thread { stdin.fileHandleForWriting.write(Data(input)); try? stdin.fileHandleForWriting.close() }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](output)
    }

    @Test func zstdFramesOfEveryShapeDecodeExactlyAsTheCLIMadeThem() throws {
        var generator = SystemRandomNumberGenerator()
        let decoder = ZstdFrameDecoder(dictionary: nil)
        // Streamed from stdin, the frames carry no content size: the decoder must grow its
        // buffer as it goes, keeping what it has produced.
        for round in 0..<60 {
            let size = [0, 1, 4_095, 4_096, 4_097, 70_000, 300_000][round % 7] + Int.random(in: 0..<2_000, using: &generator)
            var input = [UInt8](repeating: 0, count: size)
            for index in input.indices {
                input[index] = round % 3 == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8(truncatingIfNeeded: index / (1 + round % 5))
            }
            let frame = try zstdCLI(["-q", "-c", "-\(1 + round % 19)"], input)
            let decoded = try frame.withUnsafeBytes { try decoder.decompress($0).map { Array($0) } }
            let same = decoded == input  // (not in the expectation: a failure would print both arrays)
            #expect(same, "round \(round): \(size) bytes, decoded \(decoded?.count ?? -1)")
        }
    }

    @Test func zstdBombsAndHugeWindowsAreRefusedWithoutAllocating() throws {
        let decoder = ZstdFrameDecoder(dictionary: nil, maxOutput: 1 << 20)
        // 64 MiB of zeros compress to a few KiB.
        let bomb = try zstdCLI(["-q", "-c", "-19"], [UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.count < 64 << 10)
        #expect(throws: CaptureError.self) { try bomb.withUnsafeBytes { _ = try decoder.decompress($0) } }
        // A frame asking for a 1 GiB window (--long=30, size unknown) is refused up front.
        let wide = try zstdCLI(["-q", "-c", "--long=30", "--zstd=wlog=30"], [UInt8](repeating: 7, count: 10_000_000))
        #expect(throws: CaptureError.self) { try wide.withUnsafeBytes { _ = try ZstdFrameDecoder(dictionary: nil).decompress($0) } }
        // The decoder still works afterwards.
        let fine = try zstdCLI(["-q", "-c"], Array("hello".utf8))
        #expect(try fine.withUnsafeBytes { try decoder.decompress($0).map { Array($0) } } == Array("hello".utf8))
    }

    @Test func theFrameQueueWaitsOnBytesNotOnlyOnCount() async throws {
        let queue = FrameQueue<[UInt8]>(capacity: 1_000, maxBytes: 1_000) { $0.count }
        #expect(await queue.push([UInt8](repeating: 1, count: 600)))
        #expect(queue.bytes == 600)
        let second = Task { await queue.push([UInt8](repeating: 2, count: 600)) }
        // The second push is over the budget: it waits until the consumer takes frames.
        for _ in 0..<2_000 where queue.byteBudgetWaits == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(queue.byteBudgetWaits == 1)
        #expect(queue.depth == 2 && queue.bytes == 1_200)
        let taken = await queue.next(timeout: 1)
        #expect(taken.map(\.count) == [600, 600])
        #expect(await second.value)
        #expect(queue.bytes == 0)
    }

    // MARK: 6. Latency bookkeeping

    @Test func latenciesAreAFixedSizeHistogram() {
        var histogram = LatencyHistogram()
        for value in 1...100_000 { histogram.record(Int64(value)) }
        histogram.record(-5)
        histogram.record(.max)
        #expect(histogram.count == 100_002)
        let median = histogram.value(atQuantile: 0.5)
        #expect(abs(median - 50_000) <= 50_000 / 60)
        let p99 = histogram.value(atQuantile: 0.99)
        #expect(abs(p99 - 99_000) <= 99_000 / 60)
        #expect(histogram.value(atQuantile: 1) == .max)
        #expect(LatencyHistogram.index(UInt64(Int64.max)) < (64 - 6 + 1) * 64)
    }
}
