import ArgumentParser
import BotHost
import BotHostSQLite
import BotHostPostgres
import BotHostStores
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
        return StoreLocation(text)
    }
}

extension StoreOptions {
    /// The store a host (replay, run) writes, held for it: the partition claimed on
    /// PostgreSQL, the host lock on SQLite. Keep it alive while the host runs.
    func openHost(partition text: String?, configURL: String?) throws -> HostStore {
        let partition: Partition
        do { partition = try text.map { try Partition(parsing: $0) } ?? .whole } catch { throw CLIError("--partition: \(error)") }
        let location = location(configURL: configURL)
        let held: HeldStore
        do { held = try location.openHost(partition: partition) } catch let error as StoreError { throw CLIError(error.description) }
        return HostStore(location: location, partition: partition, held: held)
    }
}

/// A host's store and what holds it (see ``StoreOptions/openHost(partition:configURL:)``).
final class HostStore {
    let location: StoreLocation
    let partition: Partition
    let held: HeldStore
    var store: any BotHostStore { held.store }

    init(location: StoreLocation, partition: Partition, held: HeldStore) {
        self.location = location
        self.partition = partition
        self.held = held
    }
}

