import BotHost
import BotHostConfig
import Foundation
import Plugins
import Rules
import Testing

/// `bothost rules check`: broken packs are refused at the right place, never crash.
@Suite struct RulePackCheckerTests {
    static let leveling = Fixtures.packageRoot.appendingPathComponent("examples/packs/leveling.yaml").path

    private func refuse(_ yaml: String) -> Diagnostic? {
        do {
            _ = try RulePackChecker.check(text: yaml, file: "pack.yaml")
            return nil
        } catch {
            return error
        }
    }

    private let head = "pack: p\nversion: 1\nrules:\n"

    @Test func theShippedLevelingPackIsValid() throws {
        let pack = try RulePackChecker.check(text: String(contentsOfFile: Self.leveling, encoding: .utf8), file: Self.leveling)
        #expect(pack.id == "leveling")
        #expect(pack.rules.map(\.id) == ["post", "like", "repost"])
        #expect(pack.milestones == [5, 10, 25, 50, 100])
    }

    /// (pack text, expected "line:col", words the message must contain)
    static let broken: [(String, String, String)] = [
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"len(record.txt)\"\n", "6:21", "no field 'txt'"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"record.text\"\n", "6:10", "xp must be an int, got string"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    when: \"len(record.text) > 1 &&\"\n    xp: \"1\"\n", "6:35", "expected a value"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    when: \"1 == 2\"\n    xp: \"1\"\n", "6:11", "can never be true"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    when: \"event.operation == 'create' && event.operation == 'update'\"\n    xp: \"1\"\n", "6:11", "can never be true"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.postt\n    xp: \"1\"\n", "5:9", "unknown collection"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xpp: \"1\"\n", "6:5", "unknown key 'xpp'"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"frobnicate(1)\"\n", "6:10", "unknown function"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"1\"\nmilestones:\n  announcement: \"{handel} reached {level}\"\n", "8:17", "unknown placeholder {handel}"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"1\"\nmilestones:\n  announcement: \"{handle} {did} \(String(repeating: "x", count: 60))\"\n", "8:17", "graphemes"),
        ("pack: p\nversion: 1\nrules: [\n", "4:1", "invalid YAML"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"1\"\n  - id: a\n    on: app.bsky.feed.like\n    xp: \"2\"\n", "7:5", "two rules"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n", "4:9", "no effect"),
        ("version: 1\nrules: []\n", "1:1", "missing 'pack'"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.like\n    xp: |\n      isSelf(record.subject.uri)\n        ? 0 : record.subject\n", "8:9", "branches"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: 'today(\"postz\") < 5 ? 50 : 10'\n    counter: posts\n", "6:16", "unknown counter 'postz'"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"len(record.text) / 0\"\n", "6:29", "division by zero"),
        ("pack: p\nversion: 1\nrules:\n  - id: a\n    on: app.bsky.feed.post\n    xp: \"1\"\n    cooldown: soon\n", "7:15", "duration"),
        ("pack: p\nversion: 1\nbase: &b {x: 1}\nrules: [*b]\n", "3:7", "anchors and aliases"),
    ]

    @Test(arguments: 0..<broken.count)
    func aBrokenPackIsRefusedAtItsPosition(_ index: Int) throws {
        let (yaml, position, words) = Self.broken[index]
        let diagnostic = try #require(refuse(yaml), "case \(index) was accepted")
        #expect("\(diagnostic.line):\(diagnostic.column)" == position, "case \(index): \(diagnostic)")
        #expect(diagnostic.message.contains(words), "case \(index): \(diagnostic)")
        #expect(diagnostic.description.hasPrefix("pack.yaml:\(position): error: "))
    }

    @Test func deepNestingAndHugeFilesAreRefusedNotCrashed() {
        let deep = head + "  - id: a\n    on: app.bsky.feed.post\n    xp: " + String(repeating: "[", count: 10_000) + "\n"
        #expect(refuse(deep)?.message.contains("nested more than") == true)
        let deepIndent = (0..<400).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n")
        #expect(refuse(deepIndent) != nil)
        let deepExpression = head + "  - id: a\n    on: app.bsky.feed.post\n    xp: \"" + String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500) + "\"\n"
        #expect(refuse(deepExpression)?.message.contains("nested more than 64") == true)
        let huge = head + String(repeating: "# filler line\n", count: 100_000)
        #expect(refuse(huge)?.message.contains("larger than") == true)
    }

    /// Regression (found by `make fuzz`): the impossible-condition analysis evaluated both
    /// sides of `&&` twice per level, exponential in the chain's length; 80 clauses took
    /// longer than anyone would wait.
    @Test func aLongConditionChainIsChecked() throws {
        let clauses = (0..<80).map { "event.rkey != 'k\($0)'" }.joined(separator: " && ")
        let pack = try RulePackChecker.check(text: head + "  - id: a\n    on: app.bsky.feed.post\n    when: \"\(clauses)\"\n    xp: \"1\"\n", file: "pack.yaml")
        #expect(pack.rules.count == 1)
        let fuzzed = "is&&siris&&sS&&s.$irisiiA&&s.$ris&&S&&is&&si&&s.$i.iis&&s.$&&s.$ris&&is&&siris&&sS&&s.$irisiiA&&s.$ris&&S&&is&&si&&s.$i.iis&&s.$&&s.$ris&&S&&is&&siriis&&sS&&s.$iri.$iris&&sS&&is&&siriis&&sS&&s.$iri.$iris&&siis.$"
        #expect(refuse(head + "  - id: a\n    on: app.bsky.feed.post\n    when: \"\(fuzzed)\"\n    xp: \"1\"\n")?.message.contains("unknown name 'is'") == true)
    }

    /// Mutations of the shipped pack (characters dropped, swapped, duplicated) are
    /// either accepted or refused with a position inside the file; none traps.
    @Test func mutatedPacksNeverCrash() throws {
        let original = Array(try String(contentsOfFile: Self.leveling, encoding: .utf8))
        var generator = SystemRandomNumberGenerator()
        var refused = 0
        let lineCount = original.filter { $0 == "\n" }.count + 1
        for _ in 0..<400 {
            var text = original
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let at = Int.random(in: 0..<text.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: text.remove(at: at)
                case 1: text.insert(text[Int.random(in: 0..<text.count, using: &generator)], at: at)
                case 2: text.swapAt(at, Int.random(in: 0..<text.count, using: &generator))
                default: text.insert(["{", "[", "\"", ":", "-", "(", "?", "\t", "&"].randomElement(using: &generator)!, at: at)
                }
            }
            if let diagnostic = refuse(String(text)) {
                refused += 1
                #expect(diagnostic.line >= 1 && diagnostic.line <= lineCount + 1 && diagnostic.column >= 1, "\(diagnostic)")
            }
        }
        #expect(refused > 100)
    }
}

/// The rule-pack runtime on single events: grants, deletes, and the explain trace.
@Suite struct RulePackRuntimeTests {
    @Test func theTraceSaysWhichRuleGrantedAndWhy() throws {
        let loaded = try RulePackFile.load(RulePackCheckerTests.leveling)
        let plugin = RulePackPlugin(pack: loaded.pack, versionTag: loaded.versionTag)
        plugin.trace = []
        var configuration = BotHostConfiguration()
        configuration.rankings.enabled = false
        let context = configuration.makeContext()
        let engine = HostEngine(context: context, plugins: [plugin])
        for (number, line) in [Events.like(Events.alice, rev: 1, rkey: Events.tid(1), subject: Events.postURI(Events.bob, Events.tid(9))),
                               Events.delete(Events.alice, rev: 2, collection: "app.bsky.feed.like", rkey: Events.tid(1))].enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: number + 1) }
        }
        #expect(plugin.trace == [
            "like: no condition, xp = 10: grants it (first matching rule; later rules are not tried)",
            "delete: revokes the record's live grant, whatever rule made it",
        ])
        #expect(context.totals.xpGranted == 10 && context.totals.xpRevoked == 10)
        #expect(loaded.versionTag.hasPrefix("1+") && loaded.versionTag.count == 18)  // version + content hash
    }
}
