import ArgumentParser
import BotHost
import BotHostConfig
import BotHostStores

/// `bothost seasons`: the current season and the archived ones (docs/rankings.md, Seasons).
struct SeasonsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seasons",
        abstract: "The current season and the ended ones with their archives (`top --season S` shows one).")

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "YAML config file (the season calendar).")
    var config: String?

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let configuration = try loadConfiguration(config)
        guard let calendar = configuration.seasons else {
            throw CLIError("no seasons are configured; add seasons: {period: monthly} to the config (--config)")
        }
        let store = try database.location(configURL: configuration.store.url).openReader()
        let cursor = try store.readCursor() ?? Clock.nowMicroseconds()
        let current = calendar.season(containing: cursor)
        let archived = try store.archivedSeasons()
        func day(_ us: Int64) -> String { String(ISOTime.format(microseconds: us).prefix(10)) }
        switch format {
        case .json:
            let json = JSONWriter()
            json.object {
                if let current {
                    json.key("current")
                    json.object {
                        json.field("name", current.name)
                        json.field("start", day(current.startUS))
                        json.field("end", day(current.endUS))
                    }
                }
                json.array("archived") {
                    for season in archived {
                        json.object {
                            json.field("name", season.name)
                            json.field("start", day(season.startUS))
                            json.field("end", day(season.endUS))
                            json.field("archived", ISOTime.format(microseconds: season.archivedUS))
                            json.field("entries", season.entries)
                        }
                    }
                }
            }
            print(json.output)
        case .table:
            var rows: [[String]] = []
            if let current { rows.append([current.name, day(current.startUS), day(current.endUS), "in progress", "-"]) }
            for season in archived {
                rows.append([season.name, day(season.startUS), day(season.endUS), "archived " + ISOTime.format(microseconds: season.archivedUS), String(season.entries)])
            }
            print(Format.table(["season", "start", "end (exclusive)", "state", "top"], rows))
        }
    }
}
