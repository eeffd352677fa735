import ArgumentParser
import BotHost

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "The leaderboard: active accounts by XP.")

    @OptionGroup var database: DatabaseOptions

    @Option(name: .long, help: "How many accounts.")
    var limit: Int = 10

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let store = try openStore(database.db, readOnly: true)
        let accounts = try store.top(limit: max(0, limit))
        Leaderboard.print(accounts, format: format)
    }
}

enum Leaderboard {
    static func print(_ accounts: [AccountRecord], format: OutputFormat) {
        switch format {
        case .json:
            let json = JSONWriter()
            json.array {
                for (index, account) in accounts.enumerated() {
                    json.object {
                        json.field("rank", index + 1)
                        json.field("did", account.did)
                        json.field("handle", account.handle)
                        json.field("xp", account.xp)
                        json.field("level", account.level)
                    }
                }
            }
            Swift.print(json.output)
        case .table:
            Swift.print(Format.table(["#", "account", "level", "xp"], accounts.enumerated().map { index, account in
                [String(index + 1), account.handle.map { "@" + $0 } ?? account.did, String(account.level), Format.grouped(account.xp)]
            }, rightAligned: [0, 2, 3]))
        }
    }
}
