import BotHost
import BotHostPostgres
import BotHostSQLite
import Foundation

/// Where a bot's state lives, as `--store`, `store.url` or `--db` name it: a SQLite file
/// or a PostgreSQL database. Opening by location is the one way the CLI (and any other
/// program) gets a store, of either backend, as a ``BotHostStore``.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(String)
    case postgres(String)

    /// Parses a path, `sqlite:PATH` or `postgres://…`.
    public init(_ text: String) {
        if PostgresURL.matches(text) { self = .postgres(text) } else { self = .sqlite(text.hasPrefix("sqlite:") ? String(text.dropFirst(7)) : text) }
    }

    public var isPostgres: Bool { if case .postgres = self { return true } else { return false } }

    /// For messages: the path, or the URL without its password.
    public var display: String {
        switch self {
        case let .sqlite(path): return path
        case let .postgres(text): return (try? PostgresURL(text).redacted) ?? "postgres://…"
        }
    }

    /// Opens the store (migrating it unless `readOnly`).
    /// - Throws: `StoreError` with a sentence to show as it is.
    public func open(partition: Partition = .whole, readOnly: Bool = false) throws -> any BotHostStore {
        switch self {
        case let .sqlite(path):
            guard !partition.isPartial else {
                throw StoreError("--partition needs a shared PostgreSQL store (--store postgres://…): a SQLite file has one writer")
            }
            return try Store(path: path, readOnly: readOnly)
        case let .postgres(text):
            return try PostgresStore(text, partition: partition, readOnly: readOnly, environment: ProcessInfo.processInfo.environment)
        }
    }

    /// The outbox for a dispatcher: the host's own SQLite store, or a PostgreSQL
    /// connection of its own (claims keep several dispatchers apart).
    public func openOutbox(_ store: any BotHostStore, partition: Partition) throws -> any OutboxStore {
        switch self {
        case .sqlite: return store
        case .postgres: return try open(partition: partition)
        }
    }

    /// Opens the store a host (replay, run) writes, held for it: the partition claimed on
    /// PostgreSQL (a second host for the same K/N is refused), the host lock on SQLite (a
    /// second process on the file is refused). Keep the result alive while the host runs.
    public func openHost(partition: Partition) throws -> HeldStore {
        let store = try open(partition: partition)
        var lock: HostLock?
        switch self {
        case let .sqlite(path):
            lock = HostLock(databasePath: path)
            guard lock != nil else { throw StoreError("\(path) is in use by another bothost replay or run; stop it first") }
        case .postgres:
            try (store as? PostgresStore)?.claimPartition()
        }
        return HeldStore(store: store, lock: lock)
    }

    /// The read side (HTTP API, export, user, top, rank-events, audit, explain, outbox list).
    public func openReader() throws -> any BotHostStore { try open(readOnly: true) }
}

/// A host's store and what holds it for this process (``StoreLocation/openHost(partition:)``).
public final class HeldStore {
    public let store: any BotHostStore
    private let lock: HostLock?

    init(store: any BotHostStore, lock: HostLock?) {
        self.store = store
        self.lock = lock
    }
}
