import BotHost
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Time spent per section of the batch writer, collected when the environment sets
/// `BOTHOST_PROFILE_WRITES` (docs/performance.md): for finding where commits go.
enum WriteProfile {
    static let enabled = getenv("BOTHOST_PROFILE_WRITES") != nil
    private static let totals = Mutex<[Double]>([0, 0, 0, 0, 0, 0])

    static func add(_ section: Int, _ seconds: Double) { totals.withLock { $0[section] += seconds } }

    static func report() -> String {
        totals.withLock { "accounts \($0[0]) grants \($0[1]) ledger \($0[2]) xp buckets \($0[3]) counters \($0[4]) rest \($0[5])" }
    }
}
