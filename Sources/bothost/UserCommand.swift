import ArgumentParser
import BotHost
import BotHostConfig
import BotHostStores
import Plugins
import Rules

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Show an account's XP, level, progress and recent ledger entries.")

    @Argument(help: "The account's DID or handle.")
    var account: String

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "YAML config file (for the level curve).")
    var config: String?

    @Option(name: .long, help: "Ledger entries to show.")
    var limit: Int = 10

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let configuration = try loadConfiguration(config)
        let curve = configuration.leveling.progression.curve
        let location = database.location()
        let store = try location.openReader()
        guard let record = try store.account(account) else {
            throw CLIError("no account \(account) in \(location.display)")
        }
        // The current season, when the config has seasons: the account's season XP and rank
        // among the season's top 1,000.
        var season: (name: String, score: Int64, rank: Int?)?
        if let calendar = configuration.seasons, let cursor = try store.readCursor(), let current = calendar.season(containing: cursor) {
            let board = try store.leaderboard(from: current.startUS - 1, to: cursor, limit: 1_000)
            let mine = board.first { $0.did == record.did }
            season = (current.name, mine?.score ?? 0, mine?.rank)
        }
        let entries = try store.ledger(account: record.id, limit: max(0, limit))
        let current = curve.xpToReach(level: record.level)
        let next = curve.xpToReach(level: record.level + 1)
        let progress = next > current ? Double(record.xp - current) / Double(next - current) * 100 : 100
        switch format {
        case .json:
            let json = JSONWriter()
            json.object {
                json.field("did", record.did)
                json.field("handle", record.handle)
                json.field("display_name", record.displayName)
                json.field("xp", record.xp)
                json.field("level", record.level)
                json.field("xp_for_next_level", next)
                json.field("xp_to_next_level", max(0, next - record.xp))
                json.field("progress_percent", (progress * 10).rounded() / 10)
                json.array("milestones") { for level in record.milestones { json.element(level) } }
                json.field("status", record.status)
                json.field("consent", record.consent)
                json.field("leaderboards", AccountStanding.text(record))
                json.field("purged", record.purged)
                if let season {
                    json.key("season")
                    json.object {
                        json.field("name", season.name)
                        json.field("xp", season.score)
                        json.field("rank", season.rank)
                    }
                }
                json.array("ledger") {
                    for entry in entries { LedgerJSON.write(entry, to: json) }
                }
            }
            print(json.output)
        case .table:
            print("\(record.displayName.map { "\($0)  " } ?? "")\(record.handle.map { "@\($0)  " } ?? "")\(record.did)")
            print("level \(record.level)  ·  \(Format.grouped(record.xp)) XP  ·  \(Format.fixed(progress, 1))% to level \(record.level + 1) (\(Format.grouped(max(0, next - record.xp))) XP to go)")
            print("milestones: \(record.milestones.isEmpty ? "none" : record.milestones.map(String.init).joined(separator: ", "))  ·  status: \(record.status)  ·  consent: \(record.consent)  ·  leaderboards: \(AccountStanding.text(record))")
            if let season {
                let rank = season.rank.map { "#\($0)" } ?? (season.score > 0 ? "not in the top 1,000" : "not ranked")
                print("season \(season.name): \(Format.grouped(season.score)) XP  ·  \(rank)")
            }
            if record.purged {
                print("purged (privacy request): its ledger, grants, milestones, outbox and activity are gone; `audit list` says when and who")
            }
            if !entries.isEmpty {
                print("")
                print(Format.table(["amount", "kind", "rule", "event"], entries.map { entry in
                    [(entry.amount > 0 ? "+" : "") + String(entry.amount), entry.kind, "\(entry.plugin)/\(entry.rule)", entry.uri]
                }, rightAligned: [0]))
            }
        }
    }
}

/// One ledger entry as the CLI's JSON shows it (user, explain).
enum LedgerJSON {
    static func write(_ entry: LedgerRecord, to json: JSONWriter) {
        json.object {
            json.field("id", entry.id)
            json.field("kind", entry.kind)
            json.field("amount", entry.amount)
            json.field("plugin", entry.plugin)
            json.field("rule", entry.rule)
            json.field("version", entry.version)
            json.field("event", entry.uri)
            json.field("time_us", entry.timeUS)
            json.field("time", ISOTime.format(microseconds: entry.timeUS))
        }
    }
}

/// Whether an account is on the leaderboards, and who took it off.
enum AccountStanding {
    static func text(_ record: AccountRecord) -> String {
        if record.excluded { return "excluded by a moderator" }
        if record.selfUnranked { return "off (the account asked: no rank)" }
        return "shown"
    }
}
