/// How long the host keeps what it no longer needs, measured on the event stream's clock
/// (so a replay purges exactly as the live run did).
public struct RetentionPolicy: Sendable, Equatable {
    /// How long a deleted account's rows are kept before they are purged.
    public var deletedAccountUS: Int64
    /// Days that daily analytics counters are kept.
    public var analyticsDays = 90
    /// Days that hourly counters (and the hourly XP the rankings read) are kept.
    public var hourlyDays = 7

    public init(deletedAccountDays: Int = 30) {
        deletedAccountUS = Int64(max(0, deletedAccountDays)) * 86_400 * 1_000_000
    }

    /// The oldest daily and hourly buckets (unix seconds) kept on the stream day starting at `dayStart`.
    func keptFrom(dayStart: Int64) -> (daily: Int64, hourly: Int64) {
        (dayStart - Int64(analyticsDays) * 86_400, dayStart - Int64(hourlyDays) * 86_400)
    }
}
