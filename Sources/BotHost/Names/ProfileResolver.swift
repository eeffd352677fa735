import Logging
import Synchronization
import XRPCClient

/// Fetches the names of the accounts people are shown (the leaderboards' tops) with
/// `app.bsky.actor.getProfiles`, 25 per call, and keeps them in the store for the CLI, the
/// HTTP API, the pages and announcements.
///
/// A name is asked again only after `ttl`: the fetch times live in the store (so a restart
/// does not ask again) and in a cache here (so a pass does not read them again). Identity
/// events need no refetch: the stream's handle, stamped with its event time, wins over a
/// fetched one whenever it is newer. Handles that do not verify (`handle.invalid`) or are
/// not handle syntax are not kept; the account then shows its DID, or the stream's handle.
public final class ProfileResolver: Sendable {
    /// Asks the AppView for up to 25 DIDs' profiles; DIDs it does not know are left out.
    public typealias Fetch = @Sendable ([String]) async throws -> [FetchedProfile]

    public struct Options: Sendable {
        /// Seconds a fetched name is kept before it is asked again. Default one day.
        public var ttl: Double = 86_400
        /// How many accounts of each leaderboard (all-time, hour, day, week, month) count
        /// as shown. Default 100 (the page's size).
        public var shownPerBoard = 100
        /// Seconds between passes of ``run(logger:)``. Default 60.
        public var interval: Double = 60
        public init() {}
    }

    /// What one pass did.
    public struct Pass: Sendable, Equatable {
        /// Distinct DIDs asked about.
        public var asked = 0
        /// Of those, fetched within the TTL already: not asked again.
        public var fresh = 0
        /// `getProfiles` calls made, and those that failed (their DIDs are asked next pass).
        public var calls = 0
        public var failedCalls = 0
        /// Profiles the AppView answered with, and DIDs it did not know.
        public var fetched = 0
        public var unknown = 0
        /// Profiles whose handle was refused (`handle.invalid` or not handle syntax).
        public var invalidHandles = 0
        public init() {}
    }

    private let store: any ProfileStore
    private let fetch: Fetch
    public let options: Options
    private let fetchedAt = Mutex<[String: Int64]>([:])
    /// Bound of the in-memory cache; past it the store is asked again (it has every time).
    private static let cacheLimit = 100_000

    public init(store: any ProfileStore, options: Options = Options(), fetch: @escaping Fetch) {
        self.store = store
        self.options = options
        self.fetch = fetch
    }

    /// Names from the AppView, through the bot's PDS (`app.bsky.actor.getProfiles`).
    public convenience init(store: any ProfileStore, client: XRPCClient, options: Options = Options()) {
        self.init(store: store, options: options) { dids in
            try await client.getProfiles(dids).map { FetchedProfile(did: $0.did, handle: $0.handle, displayName: $0.displayName) }
        }
    }

    /// Fetches the names of `dids` not fetched within the TTL, 25 per call, and stores them.
    /// A failed call is counted, not thrown: its DIDs are simply asked again next pass.
    public func refresh(_ dids: [String], now: Int64 = Clock.nowMicroseconds(), logger: Logger? = nil) async throws -> Pass {
        var pass = Pass()
        var seen = Set<String>()
        let unique = dids.filter { seen.insert($0).inserted }
        pass.asked = unique.count
        let due = try dueDIDs(unique, now: now)
        pass.fresh = unique.count - due.count
        var start = 0
        while start < due.count {
            let chunk = Array(due[start..<min(start + XRPCClient.profilesPerCall, due.count)])
            start += chunk.count
            pass.calls += 1
            let answered: [FetchedProfile]
            do {
                answered = try await fetch(chunk)
            } catch {
                pass.failedCalls += 1
                logger?.warning("getProfiles failed; those names are asked again next pass",
                                metadata: ["dids": "\(chunk.count)", "error": "\(error)"])
                continue
            }
            let asked = Set(chunk)
            var byDID: [String: FetchedProfile] = [:]
            for profile in answered where asked.contains(profile.did) { byDID[profile.did] = profile }
            pass.fetched += byDID.count
            pass.unknown += chunk.count - byDID.count
            // What the AppView returned raw is not here any more: a refused handle shows as nil.
            pass.invalidHandles += byDID.values.filter { $0.handle == nil }.count
            let rows = chunk.map { byDID[$0] ?? FetchedProfile(did: $0, handle: nil, displayName: nil) }
            try store.saveProfiles(rows, fetchedUS: now)
            fetchedAt.withLock { cache in
                if cache.count > Self.cacheLimit { cache.removeAll() }
                for did in chunk { cache[did] = now }
            }
        }
        return pass
    }

    /// The accounts people see: the top of the all-time board and of each window's.
    public func shownAccounts(_ reader: any StateReading) throws -> [String] {
        var dids = try reader.leaderboard(limit: options.shownPerBoard).map(\.did)
        if let asOf = try reader.readCursor() {
            for window in RankingWindow.allCases {
                dids += try reader.leaderboard(window: window, asOf: asOf, limit: options.shownPerBoard).map(\.did)
            }
        }
        return dids
    }

    /// Refreshes the shown accounts' names every `interval` seconds until cancelled.
    public func run(reader: any StateReading, logger: Logger) async {
        while !Task.isCancelled {
            do {
                let pass = try await refresh(try shownAccounts(reader), logger: logger)
                if pass.calls > 0 {
                    logger.info("names fetched", metadata: [
                        "calls": "\(pass.calls)", "failed_calls": "\(pass.failedCalls)", "profiles": "\(pass.fetched)",
                        "unknown": "\(pass.unknown)", "invalid_handles": "\(pass.invalidHandles)", "fresh": "\(pass.fresh)",
                    ])
                }
            } catch {
                logger.warning("names: could not read or write the store", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(options.interval))
        }
    }

    private func dueDIDs(_ dids: [String], now: Int64) throws -> [String] {
        let staleBefore = now - Int64(options.ttl * 1_000_000)
        let cached = fetchedAt.withLock { cache in dids.compactMap { did in cache[did].map { (did, $0) } } }
        var times = Dictionary(cached, uniquingKeysWith: max)
        let unknown = dids.filter { times[$0] == nil }
        if !unknown.isEmpty {
            let stored = try store.profileFetchTimes(dids: unknown)
            times.merge(stored, uniquingKeysWith: max)
            fetchedAt.withLock { cache in for (did, time) in stored { cache[did] = time } }
        }
        return dids.filter { (times[$0] ?? .min) <= staleBefore }
    }
}
