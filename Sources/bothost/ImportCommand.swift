import ArgumentParser
import BotHost
import BotHostConfig
import BotHostSQLite
import BotHostStores
import Plugins

/// `bothost import accounts FILE`: accounts and their XP from another bot, as audited
/// ledger entries (rule `moderation/import`).
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import state from another bot.",
        subcommands: [ImportAccounts.self])
}

struct ImportAccounts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "Import accounts' XP from an export accounts file (JSONL or CSV); dry run unless --yes.",
        discussion: """
            Every row is checked first (a DID, an integer XP within 0…1,000,000,000, each account once); a file with a
            bad row is refused with its line and nothing is imported. Each account's XP becomes one ledger entry of the
            rule moderation/import, keyed by the account and the file's rows: importing the same rows again (the same
            file, or its CSV twin) changes nothing. New accounts are created; the handle, level, milestones, status and consent columns are not
            imported (levels follow from the XP and this bot's curve; consent is the account owner's to give).
            """)

    @Argument(help: "The file (JSONL or CSV, as bothost export accounts writes them).")
    var file: String

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "Why (kept in the audit log with the file's name and content tag).")
    var reason: String?

    @Flag(name: .long, help: "Really do it (without: show what would happen).")
    var yes = false

    @Option(name: .long, help: "YAML config file (for the level curve).")
    var config: String?

    @Option(name: .long, help: "Who is acting (default: $USER).")
    var actor: String?

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let bytes: [UInt8]
        do { bytes = Array(try readTextFile(file).utf8) } catch { throw CLIError("\(file): cannot read the file (\(error))") }
        let rows: [AccountImportRow]
        do { rows = try AccountImport.parse(bytes, file: file) } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let tag = AccountImport.tag(rows)
        let name = String(file.split(separator: "/").last ?? Substring(file))
        let why = "import \(tag): \(name)" + (reason.map { ": \($0)" } ?? "")
        let total = rows.reduce(Int64(0)) { $0 + $1.xp }
        let configuration = try loadConfiguration(config)
        let location = database.location(configURL: configuration.store.url)
        let store = try location.open()
        guard yes else {
            ModeratorAction.report(["dry_run": "true", "file": file, "tag": tag, "accounts": String(rows.count), "xp": String(total),
                                    "plan": "\(rows.count) accounts, \(total) XP as moderation/import ledger entries; run again with --yes"],
                                   format: format)
            return
        }
        let who = actor ?? environment("USER") ?? "moderator"
        let ids = try store.enqueueImport(rows, reason: why, actor: who)
        if let batch = try ModeratorAction.applyIfNoHost(location: location, store: store, configuration: configuration) {
            let mine = Set(ids)
            let results = batch.commandsApplied.filter { mine.contains($0.id) }
            let again = results.filter { $0.result.hasPrefix("already imported") }.count
            ModeratorAction.report(["file": file, "tag": tag, "imported": String(results.count - again),
                                    "already_imported": String(again), "xp": String(total)], format: format)
        } else {
            ModeratorAction.report(["file": file, "tag": tag, "commands": String(ids.count), "state": "pending",
                                    "result": location.isPostgres ? "queued: the hosts of the accounts' partitions apply them in their next batch"
                                        : "queued: the running host applies them in its next batch"], format: format)
        }
    }
}
