import BotHost
import GRDB

/// Fetched names (``ProfileResolver``): written beside the accounts the engine writes,
/// never by it, so a batch cannot overwrite them and they cannot overwrite the stream.
extension Store: ProfileStore {
    /// The handle an account shows: the fetched one when it is newer than the stream's
    /// identity event (or the stream never said), else the stream's. Needs `accounts a`
    /// and `LEFT JOIN profiles p ON p.account_id = a.id` in the query.
    static let shownHandle = """
        (CASE WHEN p.handle IS NOT NULL AND (a.handle IS NULL OR p.fetched_us > a.handle_time_us) THEN p.handle ELSE a.handle END)
        """

    public func profileFetchTimes(dids: [String]) throws -> [String: Int64] {
        var times: [String: Int64] = [:]
        try queue.read { db in
            let statement = try db.cachedStatement(sql: """
                SELECT p.fetched_us FROM accounts a JOIN profiles p ON p.account_id = a.id WHERE a.did = ?
                """)
            for did in dids {
                if let time = try Int64.fetchOne(statement, arguments: [did]) { times[did] = time }
            }
        }
        return times
    }

    public func saveProfiles(_ profiles: [FetchedProfile], fetchedUS: Int64) throws {
        guard !profiles.isEmpty else { return }
        try queue.write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO profiles(account_id, handle, display_name, fetched_us)
                SELECT id, ?, ?, ? FROM accounts WHERE did = ? AND purged_us = 0
                ON CONFLICT(account_id) DO UPDATE SET handle = excluded.handle, display_name = excluded.display_name,
                    fetched_us = excluded.fetched_us
                """)
            for profile in profiles {
                try statement.execute(arguments: [profile.handle, profile.displayName, fetchedUS, profile.did])
            }
        }
    }
}
