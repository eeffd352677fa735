import BotHost
import BotHostConfig
import BotHostSQLite
import BotHostPostgres
import Foundation
import GRDB
import Plugins
import Testing

/// Where batches are cut changes nothing: one capture with lifecycle churn, consent
/// commands and multi-operation commits, replayed with batch sizes 1, 7, 64 and the
/// default and with 1, 2 and 4 decode workers, on SQLite and on PostgreSQL, ends in the
/// same accounts, milestones, rankings and outbox rows (key, kind, state).
@Suite struct BatchInvarianceTests {
    typealias Backend = StoreBackendTests.Backend

    /// What must not depend on batching.
    struct Outcome: Equatable {
        var accounts: [AccountRecord]
        var outbox: [String]
        var rankEvents: [String]
        var consentLog: [String]
    }

    static let bot = Events.bot

    static let configuration: BotHostConfiguration = {
        var config = BotHostConfiguration()
        config.bot.did = bot
        // Low milestones and immediate purges, so the capture reaches many of both.
        config.leveling.progression.milestones = [4, 6, 8, 9]
        config.store.retentionDays = 0
        config.rankings.window = "hour"
        config.rankings.thresholds = [1, 3, 5]
        config.rankings.leaveAfterUS = 5 * 60 * 1_000_000
        return config
    }()

    /// A seeded capture: posts (some with described images), likes and reposts of each
    /// other's posts, deletes, threads posted in one commit, bulk deletes in one commit
    /// (and commits sent twice), opt-in / opt-out / no-ping commands, account status
    /// churn (deactivations, suspensions, deletions, reactivations, some sent again with
    /// their old seq) and handle changes; 30 s of stream time per event, so it crosses
    /// hours and a day.
    static func makeCapture(seed: UInt64, events: Int) -> [String] {
        var rng = SplitMix(seed: seed)
        let users = (0..<24).map { "did:plc:inv\(String(format: "%022d", $0))" }
        var lines: [String] = []
        var clock = 1_760_000_000_000_000  // microseconds
        var revCounter = 0
        var seq = 1_000
        var records: [String: [(collection: String, rkey: String)]] = [:]
        var posts: [(did: String, rkey: String)] = []
        var accountEvents: [String] = []
        var lastCommit: [String] = []
        func nextRev() -> String {
            revCounter += 1
            return TIDText.make(UInt64(1_760_000_000_000_000 + revCounter * 1000))
        }
        func line(_ did: String, rev: String, op: String, collection: String, rkey: String, record: String?) -> String {
            let recordPart = record.map { ",\"record\":\($0),\"cid\":\"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm\"" } ?? ""
            return #"{"did":"\#(did)","time_us":\#(clock),"kind":"commit","commit":{"rev":"\#(rev)","operation":"\#(op)","collection":"\#(collection)","rkey":"\#(rkey)"\#(recordPart)}}"#
        }
        func postRecord(_ text: String, facets: String? = nil, embed: String? = nil) -> String {
            var record = #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"\#(text)""#
            if let facets { record += ",\"facets\":\(facets)" }
            if let embed { record += ",\"embed\":\(embed)" }
            return record + "}"
        }
        func post(_ did: String, rev: String, text: String = "hello", facets: String? = nil) -> String {
            let rkey = nextRev()
            let embed = rng.next(100) < 30 ? Events.images(rng.next(2) == 0 ? ["a cat"] : ["a cat", " "]) : nil
            records[did, default: []].append(("app.bsky.feed.post", rkey))
            posts.append((did, rkey))
            return line(did, rev: rev, op: "create", collection: "app.bsky.feed.post", rkey: rkey,
                        record: postRecord(text, facets: facets, embed: embed))
        }
        for _ in 0..<events {
            clock += 30_000_000
            let did = users[rng.next(users.count)]
            let roll = rng.next(100)
            switch roll {
            case 0..<36:
                lines.append(post(did, rev: nextRev()))
            case 36..<52 where !posts.isEmpty, 52..<60 where !posts.isEmpty:
                let subject = posts[rng.next(posts.count)]
                let collection = roll < 52 ? "app.bsky.feed.like" : "app.bsky.feed.repost"
                let rkey = nextRev()
                records[did, default: []].append((collection, rkey))
                lines.append(line(did, rev: nextRev(), op: "create", collection: collection, rkey: rkey,
                                  record: #"{"$type":"\#(collection)","createdAt":"2026-01-01T00:00:00Z","subject":{"cid":"bafy","uri":"at://\#(subject.did)/app.bsky.feed.post/\#(subject.rkey)"}}"#))
            case 60..<67 where !(records[did] ?? []).isEmpty:
                let index = rng.next(records[did]!.count)
                let record = records[did]!.remove(at: index)
                lines.append(line(did, rev: nextRev(), op: "delete", collection: record.collection, rkey: record.rkey, record: nil))
            case 67..<71:
                // A thread posted at once: one commit, one rev, several events.
                let rev = nextRev()
                lastCommit = (0..<(2 + rng.next(2))).map { _ in post(did, rev: rev) }
                lines += lastCommit
            case 71..<74 where (records[did] ?? []).count >= 2:
                // A bulk delete through applyWrites, with one key never created.
                let rev = nextRev()
                var batch: [String] = []
                for _ in 0..<min(records[did]!.count, 2 + rng.next(3)) {
                    let record = records[did]!.remove(at: rng.next(records[did]!.count))
                    batch.append(line(did, rev: rev, op: "delete", collection: record.collection, rkey: record.rkey, record: nil))
                }
                batch.append(line(did, rev: rev, op: "delete", collection: "app.bsky.feed.like", rkey: "3zzzzzzzzzzzz", record: nil))
                lastCommit = batch
                lines += batch
            case 74..<76 where !lastCommit.isEmpty:
                lines += lastCommit  // a rewind sends the last multi-operation commit again
            case 76..<84:
                let command = ["opt in", "opt in", "opt out", "no ping", "rank me", "no rank"][rng.next(6)]
                lines.append(post(did, rev: nextRev(), text: "@bot \(command)", facets: Events.mentionFacet(bot)))
            case 84..<90:
                seq += 1
                let (active, status) = [(false, "deactivated"), (true, "active"), (false, "suspended"), (true, "active"),
                                        (false, "takendown"), (true, "active"), (false, "deleted")][rng.next(7)]
                let statusPart = active ? "" : ",\"status\":\"\(status)\""
                let event = #"{"did":"\#(did)","time_us":\#(clock),"kind":"account","account":{"active":\#(active),"did":"\#(did)","seq":\#(seq)\#(statusPart),"time":"2026-01-01T00:00:00Z"}}"#
                accountEvents.append(event)
                lines.append(event)
            case 90..<92 where !accountEvents.isEmpty:
                // An account event sent again after a failover: its old seq, a newer time_us.
                let old = accountEvents[rng.next(accountEvents.count)]
                lines.append(old.replacing(#/"time_us":\d+/#, with: "\"time_us\":\(clock)"))
            case 92..<95:
                seq += 1
                lines.append(#"{"did":"\#(did)","time_us":\#(clock),"kind":"identity","identity":{"did":"\#(did)","handle":"u\#(rng.next(1000)).test","seq":\#(seq),"time":"2026-01-01T00:00:00Z"}}"#)
            default:
                lines.append(post(did, rev: nextRev()))
            }
        }
        return lines
    }

    static let capturePath: String = {
        let path = makeTemporaryDirectory().appendingPathComponent("churn.jsonl").path
        try! (makeCapture(seed: 20_261_204, events: 2_500).joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    static func replay(_ backend: Backend, batchSize: Int, workers: Int) throws -> Outcome {
        let (store, _) = try StoreBackendTests.makeStore(backend)
        let context = configuration.makeContext()
        try store.load(into: context)
        let engine = HostEngine(context: context, plugins: configuration.makePlugins(packs: nil))
        engine.setBot(did: bot)
        var options = Replayer.Options(batchSize: batchSize, workers: workers)
        options.decodeChunkBytes = 4_096
        _ = try Replayer(engine: engine, store: store, options: options).run(try openCapture(capturePath))
        return try outcome(store)
    }

    static func outcome(_ store: any StateStore & AccountReading) throws -> Outcome {
        let accounts = try StoreBackendTests.export(store)
        let outbox = "SELECT key || '|' || kind || '|' || state FROM outbox ORDER BY key"
        let ranks = """
            SELECT a.did || '|' || e.kind || '|' || e.threshold || '|' || e.time_us || '|' || coalesce(e.rank, -1)
            FROM rank_events e JOIN accounts a ON a.id = e.account_id ORDER BY 1
            """
        let consent = """
            SELECT a.did || '|' || c.consent || '|' || c.source || '|' || c.time_us
            FROM consent_log c JOIN accounts a ON a.id = c.account_id ORDER BY c.time_us, 1
            """
        if let sqlite = store as? Store {
            return try sqlite.read { db in
                Outcome(accounts: accounts, outbox: try String.fetchAll(db, sql: outbox), rankEvents: try String.fetchAll(db, sql: ranks),
                        consentLog: try String.fetchAll(db, sql: consent))
            }
        }
        let postgres = try #require(store as? PostgresStore)
        return Outcome(accounts: accounts, outbox: try postgres.textRowsForTests(outbox),
                       rankEvents: try postgres.textRowsForTests(ranks.replacingOccurrences(of: "e.threshold ||", with: "e.threshold::text ||")),
                       consentLog: try postgres.textRowsForTests(consent))
    }

    static let reference: Outcome = try! replay(.sqlite, batchSize: 100_000, workers: 1)

    @Test func theCaptureExercisesWhatBatchingCouldBreak() throws {
        let lines = try String(contentsOfFile: Self.capturePath, encoding: .utf8).split(separator: "\n")
        let reference = Self.reference
        #expect(lines.count > 2_500)
        #expect(reference.outbox.contains { $0.hasSuffix("|milestone|pending") })
        #expect(reference.outbox.contains { $0.hasSuffix("|milestone|cancelled") })
        #expect(reference.outbox.contains { $0.contains("|rank|") })
        #expect(reference.accounts.contains { $0.status == "deleted" })
        #expect(reference.accounts.contains { $0.consent == "opted_out" })
        #expect(reference.rankEvents.count > 10)
        #expect(reference.consentLog.count > 50)
    }

    @Test(arguments: StoreBackendTests.backends)
    func batchSizesAndDecodeWorkersChangeNothing(_ backend: Backend) throws {
        for batchSize in [1, 7, 64, 100_000] {
            for workers in [1, 2, 4] where !(backend == .sqlite && batchSize == 100_000 && workers == 1) {
                let got = try Self.replay(backend, batchSize: batchSize, workers: workers)
                #expect(got.accounts == Self.reference.accounts, "accounts, batch \(batchSize), \(workers) workers, \(backend)")
                #expect(got.outbox == Self.reference.outbox, "outbox, batch \(batchSize), \(workers) workers, \(backend)")
                #expect(got.rankEvents == Self.reference.rankEvents, "rank events, batch \(batchSize), \(workers) workers, \(backend)")
                #expect(got.consentLog == Self.reference.consentLog, "consent log, batch \(batchSize), \(workers) workers, \(backend)")
            }
        }
    }

    /// Any prefix of the capture replayed first (a host stopped there, between two
    /// operations of one commit or anywhere else), then the whole capture from the start
    /// (a rewind far back), ends in the state of one replay.
    @Test(arguments: StoreBackendTests.backends)
    func anyPrefixReplayedAgainChangesNothing(_ backend: Backend) throws {
        let lines = try String(contentsOfFile: Self.capturePath, encoding: .utf8).split(separator: "\n").map(String.init)
        // Cut points inside multi-operation commits (the next line has the same rev), and others.
        let sameRev = lines.indices.dropLast().filter { index in
            guard let a = lines[index].firstRange(of: "\"rev\":\""), let b = lines[index + 1].firstRange(of: "\"rev\":\"") else { return false }
            return lines[index][a.upperBound...].prefix(13) == lines[index + 1][b.upperBound...].prefix(13)
        }
        #expect(sameRev.count > 20)
        let cuts = [sameRev[3] + 1, sameRev[sameRev.count / 2] + 1, lines.count / 3, lines.count - 5]
        for cut in backend == .sqlite ? cuts : Array(cuts.prefix(2)) {
            let (store, location) = try StoreBackendTests.makeStore(backend)
            let prefix = makeTemporaryDirectory().appendingPathComponent("prefix.jsonl").path
            try (lines.prefix(cut).joined(separator: "\n") + "\n").write(toFile: prefix, atomically: true, encoding: .utf8)
            for path in [prefix, Self.capturePath] {
                let reopened = path == prefix ? store : try StoreBackendTests.reopen(backend, location)
                let context = Self.configuration.makeContext()
                try reopened.load(into: context)
                let engine = HostEngine(context: context, plugins: Self.configuration.makePlugins(packs: nil))
                engine.setBot(did: Self.bot)
                _ = try Replayer(engine: engine, store: reopened, options: .init(batchSize: 50)).run(try openCapture(path))
            }
            let got = try Self.outcome(try StoreBackendTests.reopen(backend, location))
            #expect(got == Self.reference, "prefix of \(cut) lines, then the whole capture, \(backend)")
        }
    }

    /// The batching bug of the real-stream issue, by hand: suspended, reactivated, then a
    /// milestone, all inside one batch: the announcement is queued, not cancelled.
    @Test(arguments: StoreBackendTests.backends)
    func aCancelBeforeAMilestoneInOneBatchDoesNotCancelIt(_ backend: Backend) throws {
        typealias E = Events
        let alice = E.alice
        var config = Self.configuration
        config.store.retentionDays = 30
        config.leveling.progression.milestones = [3, 4]
        let lines = [
            E.post(alice, rev: 1, rkey: E.tid(1), text: "@bot opt in", facets: E.mentionFacet(Self.bot)),
            E.account(alice, active: false, status: "suspended", time: 10),
            E.account(alice, active: true, time: 20),
            E.post(alice, rev: 30, rkey: E.tid(30)), E.post(alice, rev: 31, rkey: E.tid(31)),
            E.post(alice, rev: 32, rkey: E.tid(32)),
        ]
        for batch in [1, 100] {
            let (store, _) = try StoreBackendTests.makeStore(backend)
            let context = config.makeContext()
            try store.load(into: context)
            let engine = HostEngine(context: context, plugins: config.makePlugins(packs: nil))
            engine.setBot(did: Self.bot)
            for (index, line) in lines.enumerated() {
                var bytes = Array(line.utf8)
                bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: index + 1) }
                if (index + 1) % batch == 0 { try store.commit(context.closeBatch()) }
            }
            try store.commit(context.closeBatch())
            let outbox = try Self.outcome(store).outbox.filter { $0.contains("|milestone|") }
            // The opt-in post earns 50 XP; three more posts reach level 3 (200 XP).
            #expect(outbox == ["milestone:\(alice):3|milestone|pending"],
                    "batch size \(batch), \(backend)")
        }
    }
}

/// A small seeded generator (SplitMix64): the same capture on every machine.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextRaw() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(_ bound: Int) -> Int { Int(nextRaw() % UInt64(bound)) }
}
