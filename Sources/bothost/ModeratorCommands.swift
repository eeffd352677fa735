import ArgumentParser
import BotHost
import BotHostConfig
import BotHostStores
import BotHostSQLite
import Foundation
import Plugins
import Rules

/// `bothost explain DID`: every ledger entry of an account with its provenance.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Every ledger entry of an account: rule, rule version and the event that produced it.")

    @Argument(help: "The account's DID or handle.")
    var account: String

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "At most this many entries, newest first.")
    var limit: Int = 1_000_000

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let location = database.location()
        let store = try location.openReader()
        guard let record = try store.account(account) else { throw CLIError("no account \(account) in \(location.display)") }
        let entries = try store.ledger(account: record.id, limit: max(0, limit))
        switch format {
        case .json:
            let json = JSONWriter()
            json.object {
                json.field("did", record.did)
                json.field("xp", record.xp)
                json.field("level", record.level)
                json.array("entries") {
                    for entry in entries { LedgerJSON.write(entry, to: json) }
                }
            }
            print(json.output)
        case .table:
            // Fewer entries than asked for are all of them; as many may be the newest of more.
            let shown = entries.count < limit ? "\(entries.count) ledger entries" : "the newest \(entries.count) ledger entries (--limit \(limit))"
            print("\(record.did): \(Format.grouped(record.xp)) XP, level \(record.level), \(shown)")
            print(Format.table(["time", "amount", "kind", "rule", "version", "event"], entries.map { entry in
                [ISOTime.format(microseconds: entry.timeUS), (entry.amount > 0 ? "+" : "") + String(entry.amount), entry.kind,
                 "\(entry.plugin)/\(entry.rule)", entry.version, entry.uri]
            }, rightAligned: [1]))
        }
    }
}

/// The account and the who/why every audited moderator command takes.
struct ModerationTarget: ParsableArguments {
    @Argument(help: "The account's DID or handle.")
    var account: String

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "Why (kept in the audit log).")
    var reason: String = ""

    @Option(name: .long, help: "Who is acting (default: $USER).")
    var actor: String?

    /// Sets or clears the excluded flag, with an audit line.
    func setExcluded(_ excluded: Bool) throws {
        let location = database.location()
        let store = try location.open()
        let who = actor ?? environment("USER") ?? "moderator"
        guard try store.setExcluded(account, excluded: excluded, actor: who, reason: reason) else {
            throw CLIError("no account \(account) in \(location.display)")
        }
        print("\(account): \(excluded ? "excluded from" : "included in") the leaderboards (audited as \(who))")
    }
}

/// `bothost exclude DID`.
struct ExcludeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exclude",
        abstract: "Remove an account from every leaderboard (audited; safe while the host runs).")

    @OptionGroup var target: ModerationTarget

    func run() throws { try target.setExcluded(true) }
}

/// `bothost include DID`.
struct IncludeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "include",
        abstract: "Put an excluded account back on the leaderboards (audited).")

    @OptionGroup var target: ModerationTarget

    func run() throws { try target.setExcluded(false) }
}

/// `bothost audit list`.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "The moderators' audit log.", subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Moderator actions, newest first.")
        @OptionGroup var database: StoreOptions
        @Option(name: .long, help: "How many.") var limit: Int = 100
        @Option(name: .long, help: "table or json.") var format: OutputFormat = .table

        func run() throws {
            let records = try database.location().openReader().auditLog(limit: max(0, limit))
            switch format {
            case .json:
                let json = JSONWriter()
                json.array {
                    for record in records {
                        json.object {
                            json.field("id", record.id)
                            json.field("time_us", record.timeUS)
                            json.field("actor", record.actor)
                            json.field("action", record.action)
                            json.field("did", record.did)
                            json.field("detail", record.detail)
                        }
                    }
                }
                print(json.output)
            case .table:
                print(Format.table(["time", "actor", "action", "account", "detail"], records.map {
                    [ISOTime.format(microseconds: $0.timeUS), $0.actor, $0.action, $0.did ?? "", $0.detail]
                }))
            }
        }
    }
}

/// `bothost status`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Cursor, lag, sizes and outbox counts of a database (safe while the host runs).")

    @OptionGroup var database: StoreOptions
    @Option(name: .long, help: "table or json.") var format: OutputFormat = .table

    func run() throws {
        let reader = try database.location().openReader()
        let status = try reader.status()
        // The labeler's sequence (docs/labels.md): 0 when no label was ever issued.
        let labels = try reader.labelSequence()
        let now = Clock.nowMicroseconds()
        let lag = status.cursorUS.map { Double(now - $0) / 1e6 }
        switch format {
        case .json:
            let json = JSONWriter()
            json.object {
                json.field("cursor_us", status.cursorUS.map(String.init))
                json.field("cursor", status.cursorUS.map { ISOTime.format(microseconds: $0) })
                if let lag { json.field("lag_seconds", lag) }
                json.field("last_commit", status.cursorUpdatedUS.map { ISOTime.format(microseconds: $0) })
                json.field("accounts", status.accounts)
                json.field("ledger_entries", status.ledgerEntries)
                json.field("live_grants", status.liveGrants)
                json.field("milestones", status.milestones)
                json.key("outbox")
                json.object { for (state, count) in status.outbox.sorted(by: { $0.key < $1.key }) { json.field(state, count) } }
                json.key("plugins")
                json.object { for (plugin, health) in status.pluginHealth.sorted(by: { $0.key < $1.key }) { json.raw(plugin, health) } }
                json.key("labels")
                json.object {
                    json.field("last_seq", labels.last)
                    json.field("pruned_through", labels.prunedThrough)
                }
            }
            print(json.output)
        case .table:
            var rows: [[String]] = [
                ["cursor", status.cursorUS.map { "\($0) (\(ISOTime.format(microseconds: $0)))" } ?? "none"],
                ["lag", lag.map { "\(Format.fixed($0, 1)) s" } ?? "-"],
                ["last commit", status.cursorUpdatedUS.map { ISOTime.format(microseconds: $0) } ?? "-"],
                ["accounts", Format.grouped(status.accounts)],
                // The highest entry id: every entry ever written, purged ones included.
                ["ledger entries written", Format.grouped(status.ledgerEntries)],
                ["live grants", Format.grouped(status.liveGrants)],
                ["milestones", Format.grouped(status.milestones)],
            ]
            for (state, count) in status.outbox.sorted(by: { $0.key < $1.key }) { rows.append(["outbox \(state)", Format.grouped(count)]) }
            for (plugin, health) in status.pluginHealth.sorted(by: { $0.key < $1.key }) {
                rows.append(["plugin \(plugin)", PluginHealthText.summary(json: health)])
            }
            if labels.last > 0 {
                rows.append(["labels issued", "sequence at \(labels.last)" + (labels.prunedThrough > 0 ? ", pruned through \(labels.prunedThrough)" : "")])
            }
            print(Format.table(["status", ""], rows))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// `bothost adjust DID ±N --reason TEXT [--yes]` and `bothost purge DID`: changes that the
/// host owning the database applies (through the command queue) in its next batch, or
/// that this command applies itself when no host runs.
struct AdjustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adjust",
        abstract: "Add or remove XP by hand (dry run unless --yes; audited; safe while the host runs).")

    @Argument(help: "The account's DID or handle.")
    var account: String

    /// Collected as "unrecognized" input so that `-50` is read as a number, not as an
    /// unknown option (ArgumentParser's reading of a leading dash).
    @Argument(parsing: .allUnrecognized, help: "XP to add (negative to remove), e.g. +100 or -50.")
    var amounts: [String] = []

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "Why (required; kept in the ledger's audit).")
    var reason: String

    @Flag(name: .long, help: "Really do it (without: show what would happen).")
    var yes = false

    @Option(name: .long, help: "YAML config file (for the level curve).")
    var config: String?

    @Option(name: .long, help: "Who is acting (default: $USER).")
    var actor: String?

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        guard amounts.count == 1, let amount = amounts.first else {
            throw CLIError(amounts.isEmpty ? "missing the amount: expected a non-zero integer such as +100 or -50"
                                           : "expected one amount, got \(amounts.joined(separator: " "))")
        }
        guard let delta = Int64(amount.hasPrefix("+") ? String(amount.dropFirst()) : amount), delta != 0 else {
            throw CLIError("amount \(amount): expected a non-zero integer such as +100 or -50")
        }
        guard ModeratorCommand.adjustRange.contains(delta) else {
            throw CLIError("amount \(amount): expected at most \(ModeratorCommand.adjustRange.upperBound) either way")
        }
        guard reason.contains(where: { !$0.isWhitespace }) else { throw CLIError("--reason must say why") }
        try ModeratorAction.run(.adjust, account: account, amount: delta, reason: reason, yes: yes, config: config,
                                actor: actor, database: database, format: format)
    }
}

struct PurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Privacy request: remove an account's rows (ledger, grants, milestones, outbox, activity), keep an audit line.")

    @Argument(help: "The account's DID or handle.")
    var account: String

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "Why (kept in the audit log).")
    var reason: String = "privacy request"

    @Flag(name: .long, help: "Really do it (without: show what would happen).")
    var yes = false

    @Option(name: .long, help: "Who is acting (default: $USER).")
    var actor: String?

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        try ModeratorAction.run(.purge, account: account, amount: 0, reason: reason, yes: yes, config: nil,
                                actor: actor, database: database, format: format)
    }
}

enum ModeratorAction {
    static func run(_ kind: ModeratorCommand.Kind, account: String, amount: Int64, reason: String, yes: Bool, config: String?,
                    actor: String?, database: StoreOptions, format: OutputFormat) throws {
        let configuration = try loadConfiguration(config)
        let location = database.location(configURL: configuration.store.url)
        let store = try location.open()
        guard let record = try store.account(account) else { throw CLIError("no account \(account) in \(location.display)") }
        let curve = configuration.leveling.progression.curve
        let (sum, overflow) = record.xp.addingReportingOverflow(amount)
        let projected = overflow ? (amount > 0 ? Int64.max : 0) : max(0, sum)
        let plan = kind == .adjust
            ? "\(record.did): xp \(record.xp) → \(projected), level \(record.level) → \(curve.level(forXP: projected))"
            : "\(record.did): remove \(record.xp) XP of ledger, grants, milestones, outbox and activity rows"
        guard yes else {
            report(["dry_run": "true", "plan": plan], format: format)
            return
        }
        let who = actor ?? environment("USER") ?? "moderator"
        let id = try store.enqueue(kind, did: record.did, amount: amount, reason: reason, actor: who)
        if case let .sqlite(path) = location, try applyIfNoHost(location: location, store: store, configuration: configuration) != nil {
            let result = try openStore(path).command(id)
            report(["command": String(id), "state": result?.state ?? "?", "result": result?.result ?? ""], format: format)
        } else {
            report(["command": String(id), "state": "pending",
                    "result": location.isPostgres ? "queued: the host of the account's partition applies it in its next batch"
                        : "queued: the running host applies it in its next batch"], format: format)
        }
    }

    /// When no host owns a SQLite database, applies its queued commands here, as a host
    /// would, and returns the committed batch; nil when a host runs or the store is
    /// PostgreSQL (the host that owns each account's partition applies them there).
    static func applyIfNoHost(location: StoreLocation, store: any BotHostStore, configuration: BotHostConfiguration) throws -> WriteBatch? {
        guard case let .sqlite(path) = location, let lock = HostLock(databasePath: path) else { return nil }
        let context = configuration.makeContext()
        try store.load(into: context)
        var boundary = BatchBoundary(store: store)
        let batch = try boundary.close(context)
        try store.commit(batch)
        withExtendedLifetime(lock) {}
        return batch
    }

    static func report(_ fields: KeyValuePairs<String, String>, format: OutputFormat) {
        switch format {
        case .json:
            let json = JSONWriter()
            json.object { for (key, value) in fields { json.field(key, value) } }
            print(json.output)
        case .table:
            for (key, value) in fields { print("\(key): \(value)") }
        }
    }
}

/// The stored plugin health (JSON written by the host, ``PluginHealth``) as one line.
enum PluginHealthText {
    static func summary(json: String) -> String {
        guard let data = json.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let summary = object["summary"] as? String else { return json }
        return summary
    }
}
