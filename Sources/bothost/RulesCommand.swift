import ArgumentParser
import Foundation
import Rules

/// `bothost rules check PATH…`: refuses a broken rule pack before it can run.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Check rule packs (docs/rules.md).",
        subcommands: [Check.self])

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
}
