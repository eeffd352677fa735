import ArgumentParser
import BotHost
import BotHostSQLite
import BotHostPostgres
import BotHostStores
import Foundation

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move a bot's state from its SQLite file into an empty PostgreSQL database.",
        discussion: """
            Copies everything (accounts, totals, the whole ledger, grants, milestones, the outbox with its
            states, consent history, rankings, counters, rule limits, shadow state, audit log, commands and
            the cursor) in one PostgreSQL transaction: it lands whole or not at all. Stop the host first
            (the SQLite file's host lock is held while copying), then start it with --store postgres://….
            """)

    @Option(name: .long, help: "The SQLite state: sqlite:PATH or a path.")
    var from: String

    @Option(name: .long, help: "The target: postgres://user@host:port/database?sslmode=… (empty; the password may come from PGPASSWORD).")
    var to: String

    func run() throws {
        let path = from.hasPrefix("sqlite:") ? String(from.dropFirst(7)) : from
        guard !PostgresURL.matches(path) else { throw CLIError("--from: expected a SQLite file (sqlite:PATH); migrating from PostgreSQL is not supported") }
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("--from: no such file: \(path)") }
        guard PostgresURL.matches(to) else { throw CLIError("--to: expected postgres://user@host:port/database") }
        let source = try openStore(path, readOnly: true)
        guard let lock = HostLock(databasePath: path) else {
            throw CLIError("\(path) is in use by a running bothost replay or run; stop it before migrating")
        }
        defer { withExtendedLifetime(lock) {} }
        let target = try PostgresStore(to, environment: ProcessInfo.processInfo.environment)
        let start = Date()
        let summary: SQLiteToPostgres.Summary
        do { summary = try SQLiteToPostgres.copy(from: source, to: target) } catch let error as StoreError { throw CLIError(error.description) }
        for (table, rows) in summary where rows > 0 {
            print("\(table.padding(toLength: 18, withPad: " ", startingAt: 0)) \(Format.grouped(rows))")
        }
        let cursor = try target.cursor(source: "jetstream").map { ISOTime.format(microseconds: $0) } ?? "none"
        print("moved to \(target.location) in \(Format.fixed(Date().timeIntervalSince(start), 1)) s; cursor \(cursor)")
    }
}
