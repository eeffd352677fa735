import ArgumentParser
import BotHost
import BotHostConfig
import Plugins
import Rules

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check a config file.",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a config with file:line:col and what was expected.")

        @Argument(help: "YAML config file.")
        var file: String

        func run() throws {
            let config = try loadConfiguration(file)
            let p = config.leveling.progression
            print("\(file): ok (curve \(p.curve.base)+\(p.curve.step), milestones \(p.milestones.map(String.init).joined(separator: ",")), xp \(config.leveling.amounts.version))")
        }
    }
}
