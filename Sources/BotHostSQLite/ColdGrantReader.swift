import BotHost
import GRDB

/// Reads grants that left memory from the store, on a read-only connection of its own
/// (WAL: it never waits for the writer and sees every committed batch).
public final class ColdGrantReader: ColdGrantSource {
    private let queue: DatabaseQueue
    /// Lookups made, for the run summary.
    public private(set) var lookups = 0
    /// The first read error: the host stops before committing anything decided without
    /// the grant it could not read.
    public private(set) var failure: (any Error)?

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    public func grant(_ key: GrantKey) -> Grant? {
        lookups += 1
        do {
            return try queue.inDatabase { db -> Grant? in
                let statement = try db.cachedStatement(sql: "SELECT amount, tag, rule_id FROM grants WHERE rkey = ? AND account_id = ? AND collection_id = ?")
                guard let row = try Row.fetchOne(statement, arguments: [Int64(key.rkey), Int64(key.account), Int64(key.collection)]) else { return nil }
                return Grant(amount: Int32(truncatingIfNeeded: row[0] as Int64), tag: UInt8(truncatingIfNeeded: row[1] as Int64),
                             rule: UInt16(truncatingIfNeeded: row[2] as Int64))
            }
        } catch {
            if failure == nil { failure = error }
            return nil
        }
    }
}
