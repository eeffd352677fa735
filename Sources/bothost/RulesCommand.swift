import ArgumentParser
import BotHost
import Foundation
import Plugins
import Rules

/// `bothost rules check PATH…`: refuses a broken rule pack before it can run.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Check rule packs (docs/rules.md).",
        subcommands: [Check.self, Test.self, Explain.self])

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
        @Argument(help: "Rule pack files (.yaml).") var paths: [String]

        func run() throws {
            var passed = 0, failed = 0
            for path in paths {
                let loaded: (pack: RulePack, versionTag: String)
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
                        let plugin = try RulePackPlugin(pack: loaded.pack, versionTag: loaded.versionTag)
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
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which rules of a pack match a Jetstream event line, and why.",
            discussion: "The line is applied to an empty state, so a repost of a post the line does not contain counts as unseen.")
        @Argument(help: "Rule pack file.") var pack: String
        @Argument(help: "A Jetstream event line (JSON), or - to read it from standard input.") var line: String

        func run() throws {
            let loaded: (pack: RulePack, versionTag: String)
            do { loaded = try RulePackFile.load(pack) } catch { throw CLIError("\(error)") }
            let text = line == "-" ? (readLine(strippingNewline: true) ?? "") : line
            var configuration = BotHostConfiguration()
            configuration.rankings.enabled = false
            let context = configuration.makeContext()
            let plugin = try RulePackPlugin(pack: loaded.pack, versionTag: loaded.versionTag)
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
}
