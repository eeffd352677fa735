import ArgumentParser
import BotHost
import BotHostSQLite
import BotHostPostgres
import Foundation

/// `--db` / `--store` for the commands that work on either backend.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "SQLite database file.")
    var db: String = "bothost.sqlite"

    @Option(name: .long, help: "The store: a SQLite path, sqlite:PATH, or postgres://user@host:port/database?sslmode=… (overrides --db and the config's store.url; the password may come from PGPASSWORD).")
    var store: String?

    /// The store named by `--store`, the config's `store.url`, or `--db`, in that order.
    func location(configURL: String? = nil) -> StoreLocation {
        guard let text = store ?? configURL else { return .sqlite(db) }
        if PostgresURL.matches(text) { return .postgres(text) }
        return .sqlite(text.hasPrefix("sqlite:") ? String(text.dropFirst(7)) : text)
    }
}

extension StoreOptions {
    /// The store a host (replay, run) writes, held for it: the partition claimed on
    /// PostgreSQL, the host lock on SQLite. Keep it alive while the host runs.
    func openHost(partition text: String?, configURL: String?) throws -> HostStore {
        let partition: Partition
        do { partition = try text.map { try Partition(parsing: $0) } ?? .whole } catch { throw CLIError("--partition: \(error)") }
        let location = location(configURL: configURL)
        let store = try location.open(partition: partition)
        do { try (store as? PostgresStore)?.claimPartition() } catch { throw CLIError("\(error)") }
        var lock: HostLock?
        if case let .sqlite(path) = location {
            lock = HostLock(databasePath: path)
            guard lock != nil else { throw CLIError("\(path) is in use by another bothost replay or run; stop it first") }
        }
        return HostStore(location: location, partition: partition, store: store, lock: lock)
    }
}

/// A host's store and what holds it (see ``StoreOptions/openHost(partition:configURL:)``).
final class HostStore {
    let location: StoreLocation
    let partition: Partition
    let store: any BotHostStore
    let lock: HostLock?

    init(location: StoreLocation, partition: Partition, store: any BotHostStore, lock: HostLock?) {
        self.location = location
        self.partition = partition
        self.store = store
        self.lock = lock
    }
}

enum StoreLocation {
    case sqlite(String)
    case postgres(String)

    var isPostgres: Bool { if case .postgres = self { return true } else { return false } }

    /// For messages: the path, or the URL without its password.
    var display: String {
        switch self {
        case let .sqlite(path): return path
        case let .postgres(text): return (try? PostgresURL(text).redacted) ?? "postgres://…"
        }
    }

    /// Opens the store (migrating it unless `readOnly`).
    func open(partition: Partition = .whole, readOnly: Bool = false) throws -> any BotHostStore {
        switch self {
        case let .sqlite(path):
            guard !partition.isPartial else {
                throw CLIError("--partition needs a shared PostgreSQL store (--store postgres://…): a SQLite file has one writer")
            }
            return try openStore(path, readOnly: readOnly)
        case let .postgres(text):
            do {
                return try PostgresStore(text, partition: partition, readOnly: readOnly, environment: ProcessInfo.processInfo.environment)
            } catch let error as StoreError {
                throw CLIError(error.description)
            }
        }
    }

    /// The outbox for a dispatcher: the host's own SQLite store, or a PostgreSQL
    /// connection of its own (claims keep several dispatchers apart).
    func openOutbox(_ store: any BotHostStore, partition: Partition) throws -> any OutboxStore {
        switch self {
        case .sqlite: return store
        case .postgres: return try open(partition: partition)
        }
    }

    /// The read side (HTTP API, export, user, top, rank-events, audit, explain, outbox list).
    func openReader() throws -> any BotHostStore { try open(readOnly: true) }
}
