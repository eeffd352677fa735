import BotHost
import BotHostConfig
import BotHostLabels
import BotHostPostgres
import BotHostSQLite
import BotHostStores
import Foundation
import Plugins
import Rules
import Synchronization
import Testing
import XRPCClient

/// The labeler (docs/labels.md): who is labeled, when a label is replaced or negated, and
/// that every change is labeled exactly once, on both stores. The wire formats are checked
/// by LabelStreamTests and, independently, by Tests/interop/labeler_stream.py.
@Suite struct LabelerTests {
    typealias Backend = StoreBackendTests.Backend

    static let alice = "did:plc:alice0000000000000000000"
    static let bob = "did:plc:bob00000000000000000000000"
    static let carol = "did:plc:carol0000000000000000000"
    static let dave = "did:plc:dave00000000000000000000"
    static let erin = "did:plc:erin00000000000000000000"
    static let frank = "did:plc:frank0000000000000000000"
    static let src = "did:plc:labeler000000000000000000"

    static func configuration() -> BotHostConfiguration {
        var configuration = BotHostConfiguration()
        configuration.bot.did = Events.bot
        configuration.leveling.progression.milestones = [2, 3]
        return configuration
    }

    /// Feeds lines as one batch through the batch boundary (so moderator commands apply),
    /// reloading the state from the store first, as a restarted host does.
    static func feed(_ lines: [String], into store: any StateStore, configuration: BotHostConfiguration = configuration()) throws {
        let context = configuration.makeContext()
        try store.load(into: context)
        let engine = HostEngine(context: context, plugins: configuration.makePlugins(packs: nil))
        engine.setBot(did: Events.bot)
        for (index, line) in lines.enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: index + 1) }
        }
        var boundary = BatchBoundary(store: store)
        try store.commit(try boundary.close(engine.context))
    }

    static func command(_ did: String, rev: Int, _ text: String) -> String {
        Events.post(did, rev: rev, rkey: Events.tid(rev), text: "@bot \(text)", facets: Events.mentionFacet(Events.bot))
    }

    static func posts(_ did: String, from rev: Int, count: Int) -> [String] {
        (rev..<(rev + count)).map { Events.post(did, rev: $0, rkey: Events.tid($0)) }
    }

    static func open(_ backend: Backend, _ name: String) throws -> (any BotHostStore, reopen: () throws -> any BotHostStore) {
        switch backend {
        case .sqlite:
            let path = makeTemporaryDirectory().appendingPathComponent("labels.sqlite").path
            return (try Store(path: path), { try Store(path: path) })
        case .postgres:
            let url = try PostgresAdmin.recreateDatabase(serverURL: StoreBackendTests.server!, name: name + "_" + UUID().uuidString.prefix(8).lowercased())
            return (try PostgresStore(url), { try PostgresStore(url) })
        }
    }

    /// (uri, val, neg) of labels, for comparing with what is expected.
    static func summary(_ labels: [StoredLabel]) -> [String] {
        labels.map { "\($0.neg ? "-" : "+")\($0.val) \($0.uri)" }
    }

    @Test func defaultTiersAreValuesTheAppShows() throws {
        #expect(NumberWords.english(5) == "five")
        #expect(NumberWords.english(25) == "twenty-five")
        #expect(NumberWords.english(100) == "one-hundred")
        #expect(NumberWords.english(1_005) == "one-thousand-five")
        #expect(NumberWords.english(250_000) == "two-hundred-fifty-thousand")
        let tiers = LabelerConfiguration().effectiveTiers(milestones: [10, 5, 25, 50, 100])
        #expect(tiers.map(\.value) == ["level-five", "level-ten", "level-twenty-five", "level-fifty", "level-one-hundred"])
        #expect(tiers.map(\.level) == [5, 10, 25, 50, 100])
        for tier in tiers { #expect(LabelTier.problem(with: tier.value) == nil) }
        // The app ignores a labeler's values outside [a-z-]: refused, with the reason.
        #expect(LabelTier.problem(with: "level-5")?.contains("lowercase letters a-z") == true)
        #expect(LabelTier.problem(with: "Level") != nil)
        #expect(LabelTier.problem(with: "") != nil)
        #expect(LabelTier.tier(for: 4, in: tiers) == nil)
        #expect(LabelTier.tier(for: 24, in: tiers)?.value == "level-ten")
        #expect(LabelTier.tier(for: 1_000, in: tiers)?.value == "level-one-hundred")
    }

    @Test func configRefusesBadTiersWithTheirPlace() throws {
        let good = try BotHostConfiguration.parse("""
            labeler:
              did: did:plc:labeler
              key_file: keys/labeler.key
              expiry_days: 30
              tiers:
                - level: 5
                  value: bronze
                  locales:
                    - {lang: en, name: "Bronze", description: "Level 5 or more"}
                    - {lang: pt-BR, name: "Bronze", description: "Nível 5 ou mais"}
                - level: 20
            """, file: "/etc/bothost/bot.yaml")
        let labeler = try #require(good.labeler)
        #expect(labeler.did == "did:plc:labeler")
        #expect(labeler.keyFile == "/etc/bothost/keys/labeler.key")
        #expect(labeler.expiryDays == 30)
        #expect(labeler.tiers?.map(\.value) == ["bronze", "level-twenty"])
        #expect(labeler.tiers?.first?.locales.map(\.lang) == ["en", "pt-BR"])

        func refusal(_ text: String) -> String {
            do { _ = try BotHostConfiguration.parse(text, file: "bot.yaml"); return "accepted" } catch { return error.description }
        }
        #expect(refusal("labeler:\n  tiers:\n    - level: 5\n      value: level-5\n").hasPrefix("bot.yaml:4:14"))
        #expect(refusal("labeler:\n  tiers:\n    - level: 5\n      value: level-5\n").contains("lowercase letters a-z"))
        #expect(refusal("labeler:\n  tiers:\n    - level: 10\n    - level: 5\n").contains("must go up by level"))
        #expect(refusal("labeler:\n  tiers:\n    - level: 5\n      locales:\n        - {lang: en, name: x}\n").contains("needs description"))
        #expect(refusal("labeler:\n  tiers:\n    - level: 5\n      locales:\n        - {lang: '1x', name: x, description: y}\n").contains("language tag"))
        #expect(refusal("labeler:\n  colour: red\n").contains("colour"))
        #expect(refusal("labeler:\n  did: alice\n").hasPrefix("bot.yaml:2:8"))
    }

    /// The key comes from a 0600 file or the environment; a file others can read is
    /// refused; once loaded, the key is redacted from any text that would be logged.
    @Test func theKeyIsLoadedOnlyFromPrivatePlacesAndNeverShown() throws {
        let directory = makeTemporaryDirectory()
        let path = directory.appendingPathComponent("labeler.key").path
        let made = try LabelerKey.create(at: path, curve: .secp256k1)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(throws: LabelerKey.Problem.self) { try LabelerKey.create(at: path) }  // never replaced
        let loaded = try LabelerKey.load(file: path, environment: [:])
        #expect(loaded.didKey == made.didKey && loaded.curve == .secp256k1)
        let secret = String(made.hexPrivateKey.dropFirst("secp256k1:".count))
        #expect(!Redact.secrets(in: "failed with \(secret) inside").contains(secret))

        let fromEnvironment = LabelSigner()
        let hex = fromEnvironment.hexPrivateKey
        #expect(try LabelerKey.load(file: nil, environment: ["BOTHOST_LABELER_KEY": hex]).didKey == fromEnvironment.didKey)
        #expect(!Redact.secrets(in: hex).contains(hex))

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        do {
            _ = try LabelerKey.load(file: path, environment: [:])
            Issue.record("a key file others can read was accepted")
        } catch {
            #expect(error.description.contains("readable by others") && !error.description.contains(secret))
        }
        do {
            _ = try LabelerKey.load(file: nil, environment: ["BOTHOST_LABELER_KEY": "not-a-key-but-secret"])
            Issue.record("a malformed key was accepted")
        } catch {
            #expect(error.description.contains("BOTHOST_LABELER_KEY") && !error.description.contains("not-a-key-but-secret"))
        }
        #expect(throws: LabelerKey.Problem.self) { try LabelerKey.load(file: nil, environment: [:]) }
    }

    @Test func renewsBeforeExpiryAndOnlyThen() throws {
        let signer = LabelSigner()
        let day: Int64 = 86_400_000_000
        let now: Int64 = 1_800_000_000_000_000
        let issuer = LabelIssuer(src: Self.src, tiers: [LabelTier.standard(level: 2)], signer: signer, expiryUS: 10 * day)
        let fresh = Label.timestamp(now + 9 * day)
        let stale = Label.timestamp(now + 4 * day)
        let labels = try issuer.decide([
            LabelSubject(did: Self.alice, level: 3, eligible: true, current: "level-two", currentExp: fresh),
            LabelSubject(did: Self.bob, level: 3, eligible: true, current: "level-two", currentExp: stale),
            LabelSubject(did: Self.carol, level: 3, eligible: true, current: "level-two", currentExp: nil),
            LabelSubject(did: Self.dave, level: 3, eligible: false, current: "level-two", currentExp: stale),
        ], nowUS: now)
        #expect(Self.summary(labels) == ["+level-two \(Self.bob)", "+level-two \(Self.carol)", "-level-two \(Self.dave)"])
        #expect(labels[0].exp == Label.timestamp(now + 10 * day) && labels[0].cts == Label.timestamp(now))
        #expect(labels[2].exp == nil)  // a negation does not expire
        for label in labels { #expect(signer.isValidSignature(label.label)) }
    }

    /// A large pass signs on every core; the labels keep the subjects' order and all verify.
    @Test func aLargePassSignsInOrder() throws {
        let signer = LabelSigner()
        let issuer = LabelIssuer(src: Self.src, tiers: [LabelTier.standard(level: 2), LabelTier.standard(level: 3)], signer: signer)
        let subjects = (0..<1_000).map { LabelSubject(did: "did:plc:n\(String(format: "%024d", $0))", level: 2 + $0 % 2, eligible: true,
                                                      current: $0 % 5 == 0 ? "level-two" : nil) }
        let labels = try issuer.decide(subjects, nowUS: 1_800_000_000_000_000)
        var expected: [String] = []
        for (n, subject) in subjects.enumerated() {
            let value = n % 2 == 0 ? "level-two" : "level-three"
            if n % 5 == 0 && value == "level-two" { continue }
            if n % 5 == 0 { expected.append("-level-two \(subject.did)") }
            expected.append("+\(value) \(subject.did)")
        }
        #expect(Self.summary(labels) == expected)
        #expect(labels.allSatisfy { signer.isValidSignature($0.label) })
    }

    @Test(arguments: [Backend.sqlite, .postgres])
    func labelsFollowConsentAndLevelExactlyOnce(_ backend: Backend) throws {
        if backend == .postgres && StoreBackendTests.server == nil { return }
        var (store, reopen) = try Self.open(backend, "labels")
        let signer = LabelSigner()
        var settings = LabelerConfiguration()
        settings.did = Self.src
        let labeler = try Labeler(configuration: settings, botDID: Events.bot, milestones: [2, 3], signer: signer)

        // Opted in at level 2 (the opt-in post is a post too): alice, carol, dave, erin,
        // frank. Bob reaches level 3 without opting in.
        var lines: [String] = []
        for (n, did) in [Self.alice, Self.carol, Self.dave, Self.erin, Self.frank].enumerated() {
            lines.append(Self.command(did, rev: 100 * n + 1, "opt in"))
            lines += Self.posts(did, from: 100 * n + 2, count: 1)
        }
        lines += Self.posts(Self.bob, from: 900, count: 6)
        try Self.feed(lines, into: store)
        #expect(try store.account(Self.alice)?.level == 2)
        #expect(try store.account(Self.bob)?.level == 3)

        let first = try labeler.pass(store)
        #expect(Self.summary(first.issued) == [Self.alice, Self.carol, Self.dave, Self.erin, Self.frank].map { "+level-two \($0)" })
        #expect(first.issued.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(try labeler.pass(store).issued.isEmpty)

        // Alice reaches level 3; carol is excluded; dave blocks the bot; erin deactivates;
        // frank's rows are purged.
        _ = try store.setExcluded(Self.carol, excluded: true, actor: "tester", reason: "test")
        _ = try store.enqueue(.purge, did: Self.frank, amount: 0, reason: "privacy request", actor: "tester")
        try Self.feed(Self.posts(Self.alice, from: 10, count: 4) + [
            Events.commit(Self.dave, rev: 350, op: "create", collection: "app.bsky.graph.block", rkey: Events.tid(350),
                          record: #"{"$type":"app.bsky.graph.block","createdAt":"2026-01-01T00:00:00Z","subject":"\#(Events.bot)"}"#),
            Events.account(Self.erin, active: false, status: "deactivated", time: 5_000),
        ], into: store)
        #expect(try store.account(Self.alice)?.level == 3)

        // A restart between the change and the pass changes nothing.
        store = try reopen()
        let second = try labeler.pass(store)
        #expect(Self.summary(second.issued) == [
            "-level-two \(Self.alice)", "+level-three \(Self.alice)", "-level-two \(Self.carol)",
            "-level-two \(Self.dave)", "-level-two \(Self.erin)", "-level-two \(Self.frank)",
        ])
        #expect(second.issued.map(\.seq) == Array(6...11).map(Int64.init))
        store = try reopen()
        #expect(try labeler.pass(store).issued.isEmpty)

        // Opting out negates; bob opting in is labeled for the level he has.
        try Self.feed([Self.command(Self.alice, rev: 60, "opt out"), Self.command(Self.bob, rev: 960, "opt in")], into: store)
        let third = try labeler.pass(store)
        #expect(Self.summary(third.issued) == ["-level-three \(Self.alice)", "+level-three \(Self.bob)"])

        // Every label is stored as issued, signed by the labeler.
        let all = try store.labels(after: 0, limit: 100)
        #expect(all == first.issued + second.issued + third.issued)
        for label in all {
            #expect(label.src == Self.src)
            #expect(signer.isValidSignature(label.label), "label \(label.seq) does not verify")
        }
        #expect(try store.labelSequence() == LabelSequence(last: 13, prunedThrough: 0))
        #expect(try store.labels(after: 11, limit: 100).map(\.seq) == [12, 13])
        #expect(try store.labels(after: 0, limit: 2).map(\.seq) == [1, 2])

        // queryLabels: exact subjects, prefixes, sources, a cursor.
        #expect(try store.queryLabels(LabelQuery(uriPatterns: [Self.alice])).map(\.seq) == [1, 6, 7, 12])
        #expect(try store.queryLabels(LabelQuery(uriPatterns: ["did:plc:b*", Self.carol])).map(\.seq) == [2, 8, 13])
        #expect(try store.queryLabels(LabelQuery(uriPatterns: ["*"], after: 10, limit: 2)).map(\.seq) == [11, 12])
        #expect(try store.queryLabels(LabelQuery(uriPatterns: ["*"], sources: ["did:plc:other"])).isEmpty)
        #expect(try store.queryLabels(LabelQuery(uriPatterns: ["*"], sources: [Self.src])).count == 13)
        // A LIKE pattern's characters are plain characters here.
        #expect(try store.queryLabels(LabelQuery(uriPatterns: ["did:plc:%*", "did_plc*"])).isEmpty)

        // Pruning keeps what accounts carry now (bob's label) and never reuses a number.
        let pruned = try store.pruneLabels(before: Label.timestamp(Clock.nowMicroseconds() + 60_000_000))
        #expect(pruned == 12)
        #expect(try store.labels(after: 0, limit: 100).map(\.seq) == [13])
        #expect(try store.labelSequence() == LabelSequence(last: 13, prunedThrough: 12))
        try Self.feed([Self.command(Self.carol, rev: 170, "opt in")], into: store)
        _ = try store.setExcluded(Self.carol, excluded: false, actor: "tester", reason: "test")
        #expect(try labeler.pass(store).issued.map(\.seq) == [14])
    }

    /// A takedown or suspension pauses the badge: negated while the account is not active,
    /// issued again when it is (consent stays); a deactivation opts out for good.
    @Test func aTakedownPausesTheBadgeAndADeactivationEndsIt() throws {
        let (store, _) = try Self.open(.sqlite, "labels3")
        let labeler = try Labeler(configuration: { var c = LabelerConfiguration(); c.did = Self.src; return c }(),
                                  botDID: nil, milestones: [2, 3], signer: LabelSigner())
        try Self.feed([Self.command(Self.alice, rev: 1, "opt in"), Events.post(Self.alice, rev: 2, rkey: Events.tid(2))], into: store)
        #expect(Self.summary(try labeler.pass(store).issued) == ["+level-two \(Self.alice)"])
        try Self.feed([Events.account(Self.alice, active: false, status: "takendown", time: 10)], into: store)
        #expect(Self.summary(try labeler.pass(store).issued) == ["-level-two \(Self.alice)"])
        try Self.feed([Events.account(Self.alice, active: true, time: 20)], into: store)
        #expect(Self.summary(try labeler.pass(store).issued) == ["+level-two \(Self.alice)"])
        try Self.feed([Events.account(Self.alice, active: false, status: "deactivated", time: 30)], into: store)
        #expect(Self.summary(try labeler.pass(store).issued) == ["-level-two \(Self.alice)"])
        try Self.feed([Events.account(Self.alice, active: true, time: 40)], into: store)
        #expect(try labeler.pass(store).issued.isEmpty)
        #expect(try store.account(Self.alice)?.consent == "opted_out")
    }

    /// `bothost migrate` moves the labels with their sequence numbers and signatures: a
    /// consumer resumes from its cursor on PostgreSQL, and numbering goes on after the
    /// highest ever issued (pruned ones included).
    @Test func migrationKeepsTheLabelSequence() throws {
        guard StoreBackendTests.server != nil else { return }
        let (sqlite, _) = try Self.open(.sqlite, "labels4")
        let labeler = try Labeler(configuration: { var c = LabelerConfiguration(); c.did = Self.src; return c }(),
                                  botDID: nil, milestones: [2, 3], signer: LabelSigner())
        try Self.feed([Self.command(Self.alice, rev: 1, "opt in"), Events.post(Self.alice, rev: 2, rkey: Events.tid(2)),
                       Self.command(Self.bob, rev: 901, "opt in"), Events.post(Self.bob, rev: 902, rkey: Events.tid(902))], into: sqlite)
        try labeler.pass(sqlite)
        try Self.feed(Self.posts(Self.alice, from: 10, count: 4), into: sqlite)
        try labeler.pass(sqlite)
        try Self.feed([Self.command(Self.bob, rev: 950, "opt out")], into: sqlite)
        try labeler.pass(sqlite)
        // The last label (bob's negation) pruned: the highest number is gone from the table.
        #expect(try sqlite.pruneLabels(before: Label.timestamp(Clock.nowMicroseconds() + 60_000_000)) == 4)
        let before = try sqlite.labels(after: 0, limit: 100)
        #expect(before.map(\.seq) == [4])
        let (postgres, _) = try Self.open(.postgres, "labels4")
        _ = try SQLiteToPostgres.copy(from: sqlite as! Store, to: postgres as! PostgresStore)
        #expect(try postgres.labels(after: 0, limit: 100) == before)
        #expect(try postgres.labelSequence() == LabelSequence(last: 5, prunedThrough: 5))
        #expect(try labeler.pass(postgres).issued.isEmpty)
        try Self.feed([Self.command(Self.bob, rev: 960, "opt in")], into: postgres)
        let next = try labeler.pass(postgres).issued
        #expect(Self.summary(next) == ["+level-three \(Self.bob)"])  // four posts: 200 XP
        #expect(next.map(\.seq) == [6])
        #expect(try postgres.account(Self.bob)?.consent == "opted_in")
    }

    /// Hosts sharing a store each run a labeler: their passes follow one another (an
    /// advisory lock on PostgreSQL, the write lock on SQLite), so a change is labeled once.
    @Test(arguments: [Backend.sqlite, .postgres])
    func labelersOfSeveralHostsLabelEachChangeOnce(_ backend: Backend) throws {
        if backend == .postgres && StoreBackendTests.server == nil { return }
        let (store, reopen) = try Self.open(backend, "labels2")
        let dids = (0..<40).map { "did:plc:many\(String(format: "%021d", $0))" }
        var lines: [String] = []
        for (n, did) in dids.enumerated() {
            lines.append(Self.command(did, rev: 10 * n + 1, "opt in"))
            lines += Self.posts(did, from: 10 * n + 2, count: n % 2 == 0 ? 1 : 4)
        }
        try Self.feed(lines, into: store)
        var settings = LabelerConfiguration()
        settings.did = Self.src
        let labeler = try Labeler(configuration: settings, botDID: nil, milestones: [2, 3], signer: LabelSigner())
        let stores: [any BotHostStore] = [store, try reopen(), try reopen(), try reopen()]
        let issued = Mutex<[StoredLabel]>([])
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: stores.count * 3) { i in
            do {
                let pass = try labeler.pass(stores[i % stores.count])
                issued.withLock { $0 += pass.issued }
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        #expect(errors.withLock { $0 } == [])
        let all = try store.labels(after: 0, limit: 1_000)
        #expect(all.count == 40)
        #expect(Set(all.map(\.uri)) == Set(dids))
        #expect(all.map(\.seq) == all.map(\.seq).sorted())
        #expect(issued.withLock { $0 }.sorted { $0.seq < $1.seq } == all)
        #expect(all.filter { $0.val == "level-three" }.count == 20)
    }
}
