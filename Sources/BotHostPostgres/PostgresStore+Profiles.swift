import BotHost
import PostgresNIO
import Synchronization

/// Fetched names (``ProfileResolver``) on PostgreSQL: the same table and rule as SQLite's
/// (the newer of the stream's and the fetched handle is shown), written in one statement
/// per pass.
extension PostgresStore: ProfileStore {
    /// The handle an account shows (needs `accounts a` and `LEFT JOIN profiles p`).
    static let shownHandle = """
        (CASE WHEN p.handle IS NOT NULL AND (a.handle IS NULL OR p.fetched_us > a.handle_time_us) THEN p.handle ELSE a.handle END)
        """

    public func profileFetchTimes(dids: [String]) throws -> [String: Int64] {
        guard !dids.isEmpty else { return [:] }
        let rows = try lock.withLock { _ in
            try session.query("""
                SELECT a.did, p.fetched_us FROM accounts a JOIN profiles p ON p.account_id = a.id WHERE a.did = ANY(\(dids)::text[])
                """)
        }
        var times: [String: Int64] = [:]
        for row in rows {
            let (did, time) = try row.decode((String, Int64).self)
            times[did] = time
        }
        return times
    }

    public func saveProfiles(_ profiles: [FetchedProfile], fetchedUS: Int64) throws {
        guard !profiles.isEmpty else { return }
        let dids = profiles.map(\.did)
        // Arrays of optionals do not encode; empty text plus a flag stands for NULL.
        let handles = profiles.map { $0.handle ?? "" }
        let hasHandle = profiles.map { $0.handle != nil }
        let names = profiles.map { $0.displayName ?? "" }
        let hasName = profiles.map { $0.displayName != nil }
        try lock.withLock { _ in
            _ = try session.query("""
                INSERT INTO profiles(account_id, handle, display_name, fetched_us)
                SELECT a.id, CASE WHEN u.hh THEN u.handle END, CASE WHEN u.hn THEN u.name END, \(fetchedUS)
                FROM UNNEST(\(dids)::text[], \(handles)::text[], \(hasHandle)::bool[], \(names)::text[], \(hasName)::bool[])
                    AS u(did, handle, hh, name, hn)
                JOIN accounts a ON a.did = u.did AND a.purged_us = 0
                ON CONFLICT (account_id) DO UPDATE SET handle = EXCLUDED.handle, display_name = EXCLUDED.display_name,
                    fetched_us = EXCLUDED.fetched_us
                """)
        }
    }
}
