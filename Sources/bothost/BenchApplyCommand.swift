import ArgumentParser
import BotHost
import BotHostConfig
import Foundation
import Plugins

/// `bothost bench-apply FILE`: the processing thread's cost per event (decode, rules,
/// in-memory state, batch snapshots) without SQLite, for the default rule pack and for
/// the hand-written Swift leveling plugin, alternating, best of `--repeat`. The writer
/// bounds end-to-end replays, so this is where the rule packs' own overhead shows.
struct BenchApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-apply",
        abstract: "Measure per-event processing cost of the default pack vs the Swift plugin (used by make bench).",
        shouldDisplay: false)

    @Argument(help: "A .jsonl capture.")
    var capture: String

    @Option(name: .long, help: "YAML config file.")
    var config: String?

    @Option(name: .customLong("repeat"), help: "Repetitions of each; the best is reported.")
    var repetitions: Int = 3

    func run() throws {
        let configuration = try loadConfiguration(config)
        let data = try Data(contentsOf: URL(fileURLWithPath: capture))
        let bytes = [UInt8](data)
        let lines = BenchDecodeCommand.lineRanges(bytes)
        var best: [Bool: Double] = [false: .infinity, true: .infinity]
        var checks: [Bool: Int64] = [:]
        for _ in 0..<max(1, repetitions) {
            for swift in [false, true] {
                let context = configuration.makeContext()
                let engine = HostEngine(context: context, plugins: configuration.makePlugins(swiftLeveling: swift))
                let t0 = Clock.monotonicSeconds()
                bytes.withUnsafeBytes { buffer in
                    for (number, line) in lines.enumerated() {
                        engine.apply(line: UnsafeRawBufferPointer(rebasing: buffer[line]), number: number + 1)
                        if context.batchEvents >= 100_000 { _ = context.closeBatch() }
                    }
                }
                _ = context.closeBatch()
                best[swift] = min(best[swift]!, Clock.monotonicSeconds() - t0)
                checks[swift] = context.totals.xpGranted - context.totals.xpRevoked
            }
        }
        let json = JSONWriter()
        json.object {
            json.field("events", lines.count)
            json.field("pack_seconds", best[false]!)
            json.field("swift_seconds", best[true]!)
            json.field("pack_events_per_s", Double(lines.count) / best[false]!)
            json.field("swift_events_per_s", Double(lines.count) / best[true]!)
            json.field("pack_cost_ratio", best[false]! / best[true]!)
            json.field("same_net_xp", checks[false] == checks[true])
        }
        print(json.output)
    }
}
