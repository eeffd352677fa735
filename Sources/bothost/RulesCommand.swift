import ArgumentParser
import BotHost
import BotHostConfig
import BotHostStores
import BotHostWasm
import Foundation
import Plugins
import Rules

/// `bothost rules check PATH…`: refuses a broken rule pack before it can run.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Check rule packs (docs/rules.md).",
        subcommands: [Check.self, Test.self, Explain.self, Diff.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check rule packs: syntax, fields against the record schemas, types, conditions, templates.",
            discussion: "Exit 0 when every pack is valid; 1 with `file:line:col: error: …` for the first problem of each broken one.")
        @Argument(help: "Rule pack files (.yaml).") var paths: [String]

        func run() throws {
            var failed = false
            for path in paths {
                let text: String
                do {
                    let data = try Data(contentsOf: URL(fileURLWithPath: path))
                    guard let decoded = String(data: data, encoding: .utf8) else {
                        printError("\(path):1:1: error: not UTF-8 text")
                        failed = true
                        continue
                    }
                    text = decoded
                } catch {
                    printError("\(path):1:1: error: cannot read the file")
                    failed = true
                    continue
                }
                do {
                    let pack = try RulePackChecker.check(text: text, file: path)
                    print("\(path): ok (pack \(pack.id) version \(pack.version), \(pack.rules.count) rule\(pack.rules.count == 1 ? "" : "s"), mode \(pack.mode.rawValue))")
                } catch {
                    printError(error.description)
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the examples the rules carry: each example's events must grant the expected XP.",
            discussion: "Prints one line per example and 'rules test: N passed, N failed'; exit 1 on any failure.")
        @Argument(help: "Rule pack files (.yaml), or WebAssembly plugins (.wasm) with their NAME.examples.yaml.") var paths: [String]

        func run() throws {
            var passed = 0, failed = 0
            for path in paths {
                if path.hasSuffix(".wasm") {
                    let (ok, bad) = testWasm(path)
                    passed += ok
                    failed += bad
                    continue
                }
                let loaded: LoadedPack
                do { loaded = try RulePackFile.load(path) } catch {
                    printError("\(error)")
                    failed += 1
                    continue
                }
                for rule in loaded.pack.rules {
                    for (index, example) in rule.examples.enumerated() {
                        var configuration = BotHostConfiguration()
                        configuration.rankings.enabled = false
                        configuration.adopt(loaded.pack)
                        let context = configuration.makeContext()
                        let plugin = RulePackPlugin(pack: loaded.pack, versionTag: loaded.versionTag, shadow: false)
                        let engine = HostEngine(context: context, plugins: [plugin])
                        for (number, line) in example.lines.enumerated() {
                            var bytes = Array(line.utf8)
                            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: number + 1) }
                        }
                        let net = context.totals.xpGranted - context.totals.xpRevoked
                        let name = "\(loaded.pack.id)/\(rule.id) example \(index + 1)"
                        if net == example.expectXP && engine.malformedCount == 0 {
                            print("ok   \(name): \(net) XP")
                            passed += 1
                        } else {
                            let why = engine.malformedCount > 0 ? "an example event is malformed" : "expected \(example.expectXP) XP, got \(net)"
                            print("FAIL \(path):\(example.line):\(example.column): \(name): \(why)")
                            failed += 1
                        }
                    }
                }
            }
            print("rules test: \(passed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode(1) }
        }

        /// A WebAssembly plugin's examples (docs/plugins-wasm.md): passed and failed counts.
        private func testWasm(_ path: String) -> (Int, Int) {
            do {
                let file = try WasmModuleFile.load(path)
                guard let examplesPath = PluginExamples.examplesPath(of: path) else {
                    printError("\(path): error: no examples (\(String(path.dropLast(5))).examples.yaml)")
                    return (0, 1)
                }
                let examples = try RulePackChecker.checkExamples(text: try readTextFile(examplesPath), file: examplesPath)
                var passed = 0, failed = 0
                for (index, example) in examples.enumerated() {
                    let outcome = try PluginExamples.run(example) { () throws -> any Plugin in try WasmPlugin(file: file) }
                    let name = "wasm:\(file.name) example \(index + 1)"
                    if outcome.netXP == example.expectXP && outcome.malformed == 0 {
                        print("ok   \(name): \(outcome.netXP) XP")
                        passed += 1
                    } else {
                        let why = outcome.malformed > 0 ? "an example event is malformed" : "expected \(example.expectXP) XP, got \(outcome.netXP)"
                        print("FAIL \(examplesPath):\(example.line):\(example.column): \(name): \(why)")
                        failed += 1
                    }
                }
                return (passed, failed)
            } catch {
                printError("\(error)")
                return (0, 1)
            }
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which rules of a pack match a Jetstream event line, and why.",
            discussion: "The line is applied to an empty state, so a repost of a post the line does not contain counts as unseen.")
        @Argument(help: "Rule pack file.") var pack: String
        @Argument(help: "A Jetstream event line (JSON), or - to read it from standard input.") var line: String

        func run() throws {
            let loaded: LoadedPack
            do { loaded = try RulePackFile.load(pack) } catch { throw CLIError("\(error)") }
            let text = line == "-" ? (readLine(strippingNewline: true) ?? "") : line
            var configuration = BotHostConfiguration()
            configuration.rankings.enabled = false
            let context = configuration.makeContext()
            let plugin = RulePackPlugin(pack: loaded.pack, versionTag: loaded.versionTag, shadow: false)
            plugin.trace = []
            let engine = HostEngine(context: context, plugins: [plugin])
            var bytes = Array(text.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: 1) }
            if let (_, error) = engine.malformedSamples.first {
                throw CLIError("the line is not a valid event: \(error.reason.rawValue): \(error.detail)")
            }
            for entry in plugin.trace ?? [] { print(entry) }
            print("net XP: \(context.totals.xpGranted - context.totals.xpRevoked)")
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare what the shadow pack would have granted and announced with the live rules.",
            discussion: """
                Run a pack with `mode: shadow` next to the live one (`bothost replay|run --pack shadow.yaml`): its
                grants go to a shadow ledger only. This reports XP per rule, the accounts whose XP would differ
                (largest first), and the milestones and announcements that would be added or lost.
                """)
        @OptionGroup var database: StoreOptions
        @Option(name: .long, help: "How many differing accounts to list.") var limit = 20
        @Option(name: .long, help: "Output format: table or json.") var format: OutputFormat = .table

        func run() throws {
            let location = database.location()
            let store = try location.openReader()
            let diff: ShadowDiff
            do { diff = try store.shadowDiff(limit: limit) } catch { throw CLIError(store.describe(error).description) }
            guard let pack = diff.shadowPack else {
                throw CLIError("no shadow pack has run on \(location.display); run one with --pack PACK.yaml where the pack says mode: shadow")
            }
            if format == .json {
                let json = JSONWriter()
                json.object {
                    json.field("shadow_pack", pack)
                    json.field("shadow_version", diff.shadowVersion ?? "")
                    json.key("rules")
                    json.array {
                        for rule in diff.rules {
                            json.object {
                                json.field("rule", rule.rule)
                                json.field("live_xp", Int(rule.liveXP))
                                json.field("shadow_xp", Int(rule.shadowXP))
                            }
                        }
                    }
                    json.field("accounts_compared", diff.accountsCompared)
                    json.field("accounts_differing", diff.accountsDiffering)
                    json.key("largest_differences")
                    json.array {
                        for account in diff.largestDifferences {
                            json.object {
                                json.field("did", account.did)
                                json.field("handle", account.handle ?? "")
                                json.field("live_xp", Int(account.liveXP))
                                json.field("live_level", account.liveLevel)
                                json.field("shadow_xp", Int(account.shadowXP))
                                json.field("shadow_level", account.shadowLevel)
                            }
                        }
                    }
                    json.field("live_milestones", diff.liveMilestones)
                    json.field("shadow_milestones", diff.shadowMilestones)
                    json.field("only_shadow_milestones", diff.onlyShadowMilestones)
                    json.field("only_live_milestones", diff.onlyLiveMilestones)
                    json.field("extra_announcements", diff.extraAnnouncements)
                    json.field("missing_announcements", diff.missingAnnouncements)
                }
                print(json.output)
                return
            }
            print("shadow pack \(pack) (version \(diff.shadowVersion ?? "?")) against the live rules")
            print()
            print(Format.table(["rule", "live XP", "shadow XP", "difference"], diff.rules.map {
                [$0.rule, Format.grouped($0.liveXP), Format.grouped($0.shadowXP), ($0.shadowXP >= $0.liveXP ? "+" : "") + Format.grouped($0.shadowXP - $0.liveXP)]
            }, rightAligned: [1, 2, 3]))
            print()
            print("accounts: \(Format.grouped(diff.accountsDiffering)) of \(Format.grouped(diff.accountsCompared)) would have a different XP")
            if !diff.largestDifferences.isEmpty {
                print(Format.table(["account", "live XP", "level", "shadow XP", "level"], diff.largestDifferences.map {
                    [$0.handle.map { "@" + $0 } ?? $0.did, Format.grouped($0.liveXP), String($0.liveLevel), Format.grouped($0.shadowXP), String($0.shadowLevel)]
                }, rightAligned: [1, 2, 3, 4]))
            }
            print()
            print("milestones: live \(Format.grouped(diff.liveMilestones)), shadow \(Format.grouped(diff.shadowMilestones)) (\(diff.onlyShadowMilestones) only in the shadow, \(diff.onlyLiveMilestones) only live)")
            print("announcements to opted-in accounts: \(diff.extraAnnouncements) more, \(diff.missingAnnouncements) fewer")
        }
    }
}
