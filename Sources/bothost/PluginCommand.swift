import ArgumentParser
import BotHost
import BotHostConfig
import BotHostWasm
import Plugins
import Rules

/// `bothost plugin check FILE.wasm…`: what a WebAssembly plugin is and does, before an
/// operator lets it run (docs/plugins-wasm.md).
struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "Check WebAssembly plugins (docs/plugins-wasm.md).",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check WebAssembly plugins: ABI version, imports, exports, memory, declarations, limits, and their examples.",
            discussion: """
                A module is checked against the ABI (only functions of module "bothost", the four exports), instantiated
                and initialized under the limits, and its examples (NAME.examples.yaml beside it, as in a rule pack) are
                run. Exit 0 when every module passes; 1 otherwise.
                """)
        @Argument(help: "WebAssembly plugin files (.wasm).") var paths: [String]
        @Option(name: .long, help: "Fuel per event.") var fuel: UInt64 = WasmLimits().fuelPerEvent
        @Option(name: .long, help: "Memory limit, in 64 KiB pages.") var memoryPages: Int = WasmLimits().memoryPages

        func run() throws {
            var failed = false
            var limits = WasmLimits()
            limits.fuelPerEvent = fuel
            limits.memoryPages = memoryPages
            limits.quarantineFailures = Int.max
            for path in paths {
                do { try check(path, limits: limits) } catch let error as WasmPluginError {
                    printError(error.description)
                    failed = true
                } catch let error as Diagnostic {
                    printError(error.description)
                    failed = true
                } catch let error as ExitCode where error == .failure {
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }

        private func check(_ path: String, limits: WasmLimits) throws {
            let file = try WasmModuleFile.load(path)
            let plugin = try WasmPlugin(file: file, limits: limits)
            let memory = plugin.memoryPages
            print("\(path): ok")
            print("  plugin      wasm:\(file.name) (\(file.versionTag), \(file.byteCount) bytes)")
            print("  abi         version \(WasmABI.version)")
            print("  imports     \(file.imports.map { "bothost.\($0)" }.joined(separator: ", "))")
            print("  exports     \(file.exports.sorted().joined(separator: ", "))")
            print("  memory      \(memory.current) pages at start, declared maximum \(memory.declaredMax.map { "\($0) pages" } ?? "none"); limit \(limits.memoryPages) pages")
            print("  collections \(plugin.collections.joined(separator: ", "))")
            print("  rules       \(plugin.ruleNames.joined(separator: ", "))")
            print("  counters    \(plugin.counterNames.isEmpty ? "-" : plugin.counterNames.joined(separator: ", "))")
            print("  limits      \(limits.fuelPerEvent) fuel per event, \(limits.batchTimeMS) ms per batch")
            guard let examplesPath = PluginExamples.examplesPath(of: path) else {
                print("  examples    none (\(path.hasSuffix(".wasm") ? String(path.dropLast(5)) : path).examples.yaml)")
                return
            }
            let examples = try RulePackChecker.checkExamples(text: try readTextFile(examplesPath), file: examplesPath)
            var failures = 0
            for (index, example) in examples.enumerated() {
                var run: WasmPlugin?
                let outcome = try PluginExamples.run(example) { () throws -> any Plugin in
                    let made = try WasmPlugin(file: file, limits: limits)
                    run = made
                    return made
                }
                let health = run?.health ?? PluginHealth.Record()
                let failed = health.failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                let fuel = health.handled > 0 ? ", \(health.fuelUsed / UInt64(health.handled)) fuel per event" : ""
                let note = failed.isEmpty ? fuel : "\(fuel); lost effects: \(failed)"
                if outcome.netXP == example.expectXP && outcome.malformed == 0 {
                    print("  ok   example \(index + 1): \(outcome.netXP) XP\(note)")
                } else {
                    let why = outcome.malformed > 0 ? "an example event is malformed" : "expected \(example.expectXP) XP, got \(outcome.netXP)"
                    print("  FAIL \(examplesPath):\(example.line):\(example.column): example \(index + 1): \(why)\(note)")
                    failures += 1
                }
            }
            print("  examples    \(examples.count - failures) passed, \(failures) failed")
            if failures > 0 { throw ExitCode.failure }
        }
    }
}
