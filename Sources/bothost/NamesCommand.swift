import ArgumentParser
import BotHost
import BotHostConfig
import BotHostStores
import Foundation
import Logging

/// `bothost names`: fetches the names of the accounts people are shown, once, as a running
/// host does every minute: for a database filled by a replay, which knows only the
/// capture's identity events.
struct NamesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "names",
        abstract: "Fetch the handles and display names of the accounts the leaderboards show (app.bsky.actor.getProfiles).",
        discussion: """
            Logs in with the bot account (BOTHOST_PDS, BOTHOST_IDENTIFIER, BOTHOST_APP_PASSWORD or the config's bot
            section), asks getProfiles for the top --limit of the all-time board and of each window (or for the DIDs
            given), 25 per call, and keeps the names beside the accounts. A name fetched within --ttl-hours is not
            asked again. Handles that do not verify (handle.invalid) are not kept. Safe while a host runs.
            """)

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "Configuration file (YAML).")
    var config: String?

    @Option(name: .long, help: "Accounts of each leaderboard to name (default 100).")
    var limit: Int = 100

    @Option(name: .long, help: "Hours a fetched name is kept before it is asked again (default 24; 0 asks again).")
    var ttlHours: Double = 24

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    @Argument(help: "DIDs to name instead of the leaderboards' tops.")
    var dids: [String] = []

    func run() async throws {
        let configuration = try loadConfiguration(config)
        guard let client = try BotDeliverySetUp.client(configuration) else {
            throw CLIError("no bot account configured (BOTHOST_PDS/BOTHOST_IDENTIFIER or bot.pds/bot.identifier): names are fetched with its session")
        }
        let location = database.location(configURL: configuration.store.url)
        let store: any BotHostStore
        do { store = try location.open() } catch let error as StoreError { throw CLIError(error.description) }
        var options = ProfileResolver.Options()
        options.shownPerBoard = max(0, limit)
        options.ttl = max(0, ttlHours) * 3600
        let resolver = ProfileResolver(store: store, client: client, options: options)
        let wanted = dids.isEmpty ? try resolver.shownAccounts(store) : dids
        let pass = try await resolver.refresh(wanted, logger: Logger(label: "bothost"))
        let fields: [(String, Int)] = [("asked", pass.asked), ("fresh", pass.fresh), ("calls", pass.calls),
                                       ("failed_calls", pass.failedCalls), ("profiles", pass.fetched),
                                       ("unknown", pass.unknown), ("invalid_handles", pass.invalidHandles)]
        switch format {
        case .json:
            let json = JSONWriter()
            json.object { for (name, value) in fields { json.field(name, value) } }
            print(json.output)
        case .table:
            print(fields.map { "\($0.0.replacingOccurrences(of: "_", with: " ")) \($0.1)" }.joined(separator: "  ·  "))
        }
        if pass.failedCalls > 0 { throw ExitCode(1) }
    }
}
