import BotHost
import BotHostConfig
import BotHostPostgres
import BotHostSQLite
import Foundation
import Plugins
import Testing
import XRPCClient


/// Where the model runs: a host's store, and the outbox connections dispatchers use.
protocol ModelBackend {
    func feed(_ lines: [String]) throws
    func messages() throws -> [OutboxMessage]
    /// A connection for one more dispatcher (SQLite: the host's store; PostgreSQL: its own,
    /// with its own dispatcher id and lease).
    func outbox() throws -> any OutboxStore
    /// Whether several dispatchers run at once (a shared PostgreSQL outbox).
    var shared: Bool { get }
}

/// The SQLite host of the tests.
struct SQLiteModelBackend: ModelBackend {
    let host: TestHost
    func feed(_ lines: [String]) throws { try host.feed(lines) }
    func messages() throws -> [OutboxMessage] { try host.store.outboxMessages() }
    func outbox() throws -> any OutboxStore { host.store }
    var shared: Bool { false }
}

/// A host on a fresh PostgreSQL database; dispatchers on connections of their own, with a
/// 300 ms lease so that a lease runs out in the middle of a stalled send.
final class PostgresModelBackend: ModelBackend {
    let url: String
    let store: PostgresStore
    let engine: HostEngine
    static let leaseUS: Int64 = 300_000

    init(configuration: BotHostConfiguration) throws {
        url = try PostgresAdmin.recreateDatabase(serverURL: StoreBackendTests.server!, name: "m_" + UUID().uuidString.prefix(8).lowercased())
        store = try PostgresStore(url)
        let context = configuration.makeContext()
        try store.load(into: context)
        engine = HostEngine(context: context, plugins: configuration.makePlugins())
        if let bot = configuration.bot.did { engine.setBot(did: bot) }
    }

    func feed(_ lines: [String]) throws {
        for (index, line) in lines.enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: index + 1) }
        }
        try store.commit(engine.context.closeBatch())
    }

    func messages() throws -> [OutboxMessage] { try store.outboxMessages(states: [], did: nil, limit: nil) }
    func outbox() throws -> any OutboxStore { try PostgresStore(url, leaseUS: Self.leaseUS) }
    var shared: Bool { true }
}

/// A seeded model-based test of the outbox against the real PDS (arroba) on loopback:
/// random interleavings of opt-in, opt-out, no-ping, blocks, deactivation and
/// reactivation, level-ups, dispatcher passes, dispatchers that die mid-send (an attempt
/// begun, its write landed or not), and PDS faults (503, 429 with a reset, a write applied
/// but answered 502, and on PostgreSQL a stall past the lease). Consent changes commit between steps, so "committed before the send began" is
/// "before the pass that sent it". The invariants are checked on the PDS's own records
/// and chat messages, not on the outbox table:
///   * nothing is posted about an account that was not opted in and active when the send
///     began, and nothing mentions one that was not opted in with pings;
///   * no DM is delivered twice, no post exists twice for one announcement;
///   * when the run settles, nothing is pending or sending, every `sent` row is one post
///     on the server, and every post on the server is a `sent` row.
/// `BOTHOST_MODEL_SEEDS` sets the number of seeds (default 200); `BOTHOST_MODEL_PG_SEEDS` those of
/// the PostgreSQL run with two dispatchers and 300 ms leases (default 24).
@Suite(.serialized) struct OutboxModelTests {
    typealias E = Events

    /// What the model knows of one account at a step.
    struct Model {
        var consent = "none"
        var active = true
        var allowed: Bool { active && (consent == "opted_in" || consent == "no_ping") }
    }

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func consentAndExactlyOnceHoldAtTheInstantOfSending() async throws {
        let seeds = Int(ProcessInfo.processInfo.environment["BOTHOST_MODEL_SEEDS"] ?? "") ?? 200
        let pds = try TestPDS(["--write-limit", "1000000"])
        defer { pds.stop() }
        var checked = 0
        for seed in 0..<seeds {
            checked += try await run(seed: seed, pds: pds) { try SQLiteModelBackend(host: TestHost(configuration: $0)) }
        }
        #expect(checked > seeds / 2)  // the invariants looked at real posts
        print("outbox model (SQLite): \(seeds) seeds, \(checked) posts and messages checked")
    }

    /// The same model on PostgreSQL with two dispatchers at once, one of them sometimes
    /// starting while the other is stalled mid-send past its lease.
    @Test(.enabled(if: StoreBackendTests.server != nil))
    func consentAndExactlyOnceHoldWithTwoDispatchersAndExpiringLeases() async throws {
        let seeds = Int(ProcessInfo.processInfo.environment["BOTHOST_MODEL_PG_SEEDS"] ?? "") ?? 24
        let pds = try TestPDS(["--write-limit", "1000000"])
        defer { pds.stop() }
        var checked = 0
        for seed in 0..<seeds {
            checked += try await run(seed: 100_000 + seed, pds: pds) { try PostgresModelBackend(configuration: $0) }
        }
        #expect(checked > seeds / 2)
        print("outbox model (PostgreSQL, two dispatchers): \(seeds) seeds, \(checked) posts and messages checked")
    }

    /// One seed; returns how many delivered posts and messages it checked.
    private func run(seed: Int, pds: TestPDS, backend make: (BotHostConfiguration) throws -> any ModelBackend) async throws -> Int {
        var rng = SplitMix(state: UInt64(seed) &* 0x5851_F42D_4C95_7F2D &+ 1)
        let modes: [OutboxDispatcher.Options.Mode] = [.reply, .post, .dm]
        let mode = modes[Int.random(in: 0..<3, using: &rng)]
        var config = BotHostConfiguration()
        config.bot.did = pds.botDID
        config.leveling.amounts.post = 4_000  // milestones 5, 10, 25 and 50 within a few posts
        config.rankings.enabled = false
        config.consent.confirmCommands = false
        let host = try make(config)
        let dids = (0..<3).map { "did:plc:m\(String(format: "%05d", seed))a\($0)" + String(repeating: "x", count: 9) }
        var model = Dictionary(uniqueKeysWithValues: dids.map { ($0, Model()) })
        var revs = Dictionary(uniqueKeysWithValues: dids.map { ($0, 0) })
        // Event times (hence the announcements' record keys, derived from them) differ per
        // seed: the seeds share one bot repository, as one bot's runs would.
        var time = (seed % 100_000 + (seed >= 100_000 ? 50_000 : 0)) * 10_000_000
        var options = OutboxDispatcher.Options()
        options.mode = mode
        options.maxAgeUS = 0
        options.baseBackoffUS = 1_000
        options.maxBackoffUS = 5_000
        options.budget = WriteBudget(hourlyPoints: 10_000_000, dailyPoints: 10_000_000)
        let client = try pds.client(retry: RetryPolicy(maxAttempts: 1, baseDelayMS: 1, maxDelayMS: 1))
        func dispatcher() throws -> OutboxDispatcher {
            OutboxDispatcher(store: try host.outbox(), client: client, botDID: pds.botDID, progression: config.leveling.progression, options: options)
        }
        var current = try dispatcher()
        var second = host.shared ? try dispatcher() : nil
        /// Per delivered post (rkey) or message (text): the model's verdict when its send began.
        var seenPosts = Set<String>(), seenMessages = [String: Int]()
        let before = Set(try await pds.botPosts().compactMap { $0["uri"] as? String })
        let messagesBefore = (try await pds.get("/_control/messages") as? [[String: Any]])?.count ?? 0
        var checked = 0

        func event(_ did: String, _ make: (Int, Int) -> String) throws {
            revs[did]! += 1
            time += 1
            try host.feed([make(revs[did]!, time)])
        }
        func post(_ did: String, text: String = "hello", mention: Bool = false) throws {
            try event(did) { rev, t in
                E.commit(did, rev: rev, op: "create", collection: "app.bsky.feed.post", rkey: E.tid(rev),
                         record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"\#(text)""#
                            + (mention ? #","facets":\#(E.mentionFacet(pds.botDID))}"# : "}"), time: t)
            }
        }
        /// The posts and messages that appeared since the last look, checked against the
        /// model as it was when the pass that made them began.
        func checkNew(allowedAtStart: [String: Model], crashed: [String: Model]) async throws {
            let rows = try host.messages()
            for record in try await pds.botPosts() where !before.contains(record["uri"] as? String ?? "") {
                guard let uri = record["uri"] as? String, let rkey = uri.split(separator: "/").last.map(String.init),
                      let row = rows.first(where: { $0.rkey == rkey }), dids.contains(row.did) else { continue }
                guard seenPosts.insert(rkey).inserted else { continue }
                checked += 1
                let value = record["value"] as? [String: Any] ?? [:]
                // A post made by a dispatcher that "died" is judged at the instant its send began.
                let verdict = crashed[rkey] ?? allowedAtStart[row.did]!
                #expect(verdict.allowed, "seed \(seed): posted about \(row.did) while \(verdict)")
                if value["facets"] != nil {
                    #expect(verdict.consent == "opted_in", "seed \(seed): mentioned \(row.did) while \(verdict.consent)")
                }
            }
            for message in ((try await pds.get("/_control/messages") as? [[String: Any]]) ?? []).dropFirst(messagesBefore) {
                guard let members = message["members"] as? [String], let did = members.first(where: dids.contains),
                      let text = message["text"] as? String else { continue }
                let key = "\(did) \(text)"
                seenMessages[key, default: 0] += 1
                guard seenMessages[key] == 1 else {
                    Issue.record("seed \(seed): DM \"\(text)\" to \(did) delivered \(seenMessages[key]!) times")
                    continue
                }
                checked += 1
                let verdict = allowedAtStart[did]!
                #expect(verdict.allowed, "seed \(seed): DM to \(did) while \(verdict)")
            }
        }

        var crashed: [String: Model] = [:]
        for _ in 0..<24 {
            let did = dids[Int.random(in: 0..<dids.count, using: &rng)]
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<18:
                try post(did, text: "@bot opt in", mention: true)
                model[did]!.consent = "opted_in"
            case 18..<40:
                try post(did)
            case 40..<46:
                try post(did, text: "@bot opt out", mention: true)
                model[did]!.consent = "opted_out"
            case 46..<54:
                try post(did, text: "@bot no ping", mention: true)
                model[did]!.consent = "no_ping"
            case 54..<58:
                try event(did) { rev, t in
                    E.commit(did, rev: rev, op: "create", collection: "app.bsky.graph.block", rkey: E.tid(rev),
                             record: #"{"$type":"app.bsky.graph.block","subject":"\#(pds.botDID)","createdAt":"2026-01-01T00:00:00Z"}"#, time: t)
                }
                model[did]!.consent = "opted_out"
            case 58..<63:
                time += 1
                try host.feed([E.account(did, active: false, status: "deactivated", time: time)])
                model[did]!.active = false
                model[did]!.consent = model[did]!.consent == "none" ? "none" : "opted_out"
            case 63..<66:
                time += 1
                try host.feed([E.account(did, active: true, time: time)])
                model[did]!.active = true
            case 66..<76:
                // A dispatcher dies mid-send: one prepared message has its attempt begun
                // (with the checks of that instant), and its write landed or not.
                let dead = try host.outbox()
                let claimable = host.shared ? try dead.dueMessages(nowUS: WallClock.nowUS(), limit: 50).map(\.id) : nil  // claims, as a dispatcher does
                let pending = try host.messages().filter { $0.state == "pending" && dids.contains($0.did) && $0.rkey != nil && $0.request?.isEmpty == false
                    && (claimable?.contains($0.id) ?? true) }
                if let message = pending.first, let request = message.request,
                   let data = request.data(using: .utf8), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    let mentions = json["mentions"] as? Bool
                    let started = try dead.beginAttempt(message.id, points: 0, nowUS: WallClock.nowUS(),
                                                              checks: SendChecks(announcement: true, mentions: message.kind == "confirm" ? nil : mentions))
                    if started == .started, json["via"] as? String == "post", Bool.random(using: &rng),
                       let post = json["post"] as? [String: Any], let rkey = message.rkey {
                        let record = try JSONDecoder().decode(PostRecord.self, from: JSONSerialization.data(withJSONObject: post))
                        // (Already there when an earlier dead dispatcher's write landed: it keeps its verdict.)
                        if (try? await client.createRecord(collection: "app.bsky.feed.post", rkey: rkey, record: record)) != nil {
                            crashed[rkey] = model[message.did]!
                        }
                    }
                }
                current = try dispatcher()
            default:
                // A dispatcher pass, sometimes against a failing server.
                switch Int.random(in: 0..<10, using: &rng) {
                case 0, 1: try await pds.post("/_control/faults", #"{"status": 503, "count": 1, "nsid": "com.atproto.repo.createRecord"}"#)
                case 2: try await pds.post("/_control/faults", #"{"lost_response": {"count": 1}}"#)
                case 3: try await pds.post("/_control/faults", #"{"status": 502, "count": 2}"#)
                case 4: try await pds.post("/_control/faults", #"{"status": 503, "count": 1, "nsid": "chat.bsky.convo.sendMessage"}"#)
                case 5: try await pds.post("/_control/faults", #"{"rate_limit": {"count": 1, "reset_in": 1}}"#)
                default: break
                }
                let snapshot = model
                if let other = second {
                    // Two dispatchers at once; sometimes the first stalls past its lease and the
                    // second starts after the lease has run out, mid-send.
                    let stall = Bool.random(using: &rng)
                    if stall { try await pds.post("/_control/faults", #"{"stall": {"count": 1, "seconds": 1}}"#) }
                    async let first = current.dispatchDue()
                    async let late: OutboxDispatcher.Pass = {
                        if stall { try? await Task.sleep(for: .milliseconds(450)) }
                        return await other.dispatchDue()
                    }()
                    _ = await (first, late)
                } else {
                    _ = await current.dispatchDue()
                }
                try await pds.post("/_control/reset", "{}")
                try await checkNew(allowedAtStart: snapshot, crashed: crashed)
            }
        }
        // Settle: a fresh dispatcher (the last one may have died), no faults, until idle.
        try await pds.post("/_control/reset", "{}")
        let snapshot = model
        current = try dispatcher()
        for _ in 0..<60 {
            _ = await current.dispatchDue()
            let left = try host.messages().filter { ($0.state == "pending" || $0.state == "sending") && dids.contains($0.did) }
            if left.isEmpty { break }
            try await Task.sleep(for: .milliseconds(50))  // leases of dead dispatchers run out
        }
        try await checkNew(allowedAtStart: snapshot, crashed: crashed)
        let rows = try host.messages().filter { dids.contains($0.did) }
        #expect(rows.allSatisfy { $0.state != "pending" && $0.state != "sending" }, "seed \(seed): \(rows.map { "\($0.id) \($0.state)" })")
        // Every sent post row is one post on the server, and every post on the server one row.
        if mode != .dm {
            let serverKeys = try await pds.botPosts().compactMap { $0["uri"] as? String }.filter { !before.contains($0) }
                .compactMap { $0.split(separator: "/").last.map(String.init) }
            // The posts the sent rows say are theirs (a coalesced group shares its lead's).
            let sentKeys = Set(rows.filter { $0.state == "sent" }.compactMap { $0.uri?.split(separator: "/").last.map(String.init) })
            let serverMine = serverKeys.filter { key in rows.contains { $0.rkey == key || $0.uri?.hasSuffix("/" + key) == true } }
            #expect(Set(serverMine) == sentKeys, "seed \(seed): server \(serverMine.sorted()) vs sent \(sentKeys.sorted())")
            #expect(serverMine.count == Set(serverMine).count, "seed \(seed): a post twice")
            // Nor one announcement under two keys: the texts of one seed's posts are distinct.
            let texts = try await pds.botPosts().filter { !before.contains($0["uri"] as? String ?? "") }
                .compactMap { ($0["value"] as? [String: Any])?["text"] as? String }.filter { text in dids.contains { text.contains($0) } }
            #expect(texts.count == Set(texts).count, "seed \(seed): an announcement posted twice: \(texts)")
            // And no level of one account in two posts (coalesced texts name several levels).
            for did in dids {
                var levels: [Int] = []
                for text in texts where text.contains(String(did.suffix(20))) || text.contains(did) {
                    let tail = text.split(separator: "reached").last ?? ""
                    levels += tail.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                }
                #expect(levels.count == Set(levels).count, "seed \(seed): a level of \(did) announced twice: \(levels)")
            }
        }
        // A failed message is only a DM that may have been delivered, never a lost post.
        for row in rows where row.state == "failed" {
            #expect(row.lastError?.contains("may have been delivered") == true || mode == .dm, "seed \(seed): \(row.id) failed: \(row.lastError ?? "")")
        }
        return checked
    }
}
