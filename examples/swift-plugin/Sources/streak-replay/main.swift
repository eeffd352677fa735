#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BotHost
import BotHostSQLite
import BotHostConfig
import Plugins
import StreakBonus

// Replays a Jetstream capture through the default rules plus the streak bonus:
//   swift run streak-replay CAPTURE.jsonl [DB.sqlite]
let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: streak-replay CAPTURE.jsonl [DB.sqlite]")
    exit(2)
}
let configuration = BotHostConfiguration()
let store = try Store(path: arguments.count > 2 ? arguments[2] : "streak.sqlite")
let context = configuration.makeContext()
try store.load(into: context)
let engine = HostEngine(context: context, plugins: configuration.makePlugins() + [PostingStreakPlugin()])
let summary = try Replayer(engine: engine, store: store).run(try openCapture(arguments[1]))
print("\(summary.events) events, \(context.totals.xpGranted - context.totals.xpRevoked) XP net")
