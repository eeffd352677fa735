import BotHost
import BotHostWasm
import Plugins
import Rules

/// Runs examples (pack rules' and WebAssembly plugins' alike) the way `bothost rules test`
/// does: each example's events on an empty state through a fresh host and plugin; the
/// result is the net XP they left.
public enum PluginExamples {
    /// One example's result.
    public struct Outcome: Sendable {
        public var netXP: Int64
        public var malformed: Int
    }

    /// Applies `example`'s events through `plugin` (made fresh per example).
    public static func run(_ example: RulePack.Example, configuration: BotHostConfiguration = BotHostConfiguration(),
                           plugin: () throws -> any Plugin) rethrows -> Outcome {
        var configuration = configuration
        configuration.rankings.enabled = false
        let context = configuration.makeContext()
        let engine = HostEngine(context: context, plugins: [try plugin()])
        for (number, line) in example.lines.enumerated() {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { engine.apply(line: UnsafeRawBufferPointer($0), number: number + 1) }
        }
        return Outcome(netXP: context.totals.xpGranted - context.totals.xpRevoked, malformed: engine.malformedCount)
    }

    /// The examples file beside a WebAssembly module (`NAME.wasm` → `NAME.examples.yaml`);
    /// nil when there is none.
    public static func examplesPath(of wasmPath: String) -> String? {
        let base = wasmPath.hasSuffix(".wasm") ? String(wasmPath.dropLast(5)) : wasmPath
        let path = base + ".examples.yaml"
        return (try? readTextFile(path)) != nil ? path : nil
    }
}
