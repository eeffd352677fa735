/// Query logic both stores share (SQLite, PostgreSQL): the same sums from the same
/// tables, so the two backends answer alike.
public enum StoreQueries {
    /// The sub-queries (each yielding `account_id, xp`) whose union is the net XP of
    /// events with time in `(from, to]` (microseconds), and their arguments.
    public static func windowParts(from: Int64, to: Int64, dailyThroughUS: Int64) -> (parts: [String], arguments: [Int64]) {
        let hourUS: Int64 = 3_600_000_000, dayUS: Int64 = 86_400_000_000
        func ceilTo(_ value: Int64, _ unit: Int64) -> Int64 { value >= 0 ? (value + unit - 1) / unit * unit : -((-value) / unit * unit) }
        func floorTo(_ value: Int64, _ unit: Int64) -> Int64 { value >= 0 ? value / unit * unit : -((-value + unit - 1) / unit * unit) }
        // Whole hours [hourStart, hourEnd) (µs) lie inside (from, to]: times from + 1 … to.
        let hourStart = ceilTo(from + 1, hourUS), hourEnd = floorTo(to + 1, hourUS)
        guard hourStart < hourEnd else {
            return (["SELECT account_id, amount AS xp FROM ledger WHERE time_us > ? AND time_us <= ?"], [from, to])
        }
        var parts: [String] = []
        var arguments: [Int64] = []
        func ledger(_ lower: Int64, _ upper: Int64) {  // (lower, upper]
            guard lower < upper else { return }
            parts.append("SELECT account_id, amount AS xp FROM ledger WHERE time_us > ? AND time_us <= ?")
            arguments += [lower, upper]
        }
        func buckets(_ table: String, _ start: Int64, _ end: Int64) {  // [start, end) µs, aligned
            guard start < end else { return }
            parts.append("SELECT account_id, xp FROM \(table) WHERE bucket >= ? AND bucket < ?")
            arguments += [start / 1_000_000, end / 1_000_000]
        }
        ledger(from, hourStart - 1)
        let dayStart = ceilTo(hourStart, dayUS), dayEnd = floorTo(hourEnd, dayUS)
        if dayStart < dayEnd {
            // Whole days come from xp_daily where they are rolled up, from hours after.
            let rolled = min(dayEnd, max(dayStart, dailyThroughUS))
            buckets("xp_hourly", hourStart, dayStart)
            buckets("xp_daily", dayStart, rolled)
            buckets("xp_hourly", rolled, hourEnd)
        } else {
            buckets("xp_hourly", hourStart, hourEnd)
        }
        ledger(hourEnd - 1, to)
        return (parts, arguments)
    }

    /// An account's activity per day (or hour) bucket from its counter rows and ledger
    /// entries, on either backend: event counts by type, and net XP by collection.
    public static func activityBuckets(counters: [(bucket: Int64, name: String, value: Int64)], ledger: [LedgerRecord],
                                       hourly: Bool) -> [(Int64, [(String, Int64)])] {
        let unit: Int64 = hourly ? 3_600 : 86_400
        var buckets: [Int64: [String: Int64]] = [:]
        for row in counters where row.name.hasPrefix("hour:") == hourly {
            buckets[row.bucket, default: [:]][hourly ? String(row.name.dropFirst(5)) : row.name] = row.value
        }
        for entry in ledger {
            let seconds = entry.timeUS / 1_000_000
            let bucket = seconds - ((seconds % unit) + unit) % unit
            let collection = entry.uri.split(separator: "/").dropFirst(2).first.map(String.init) ?? "?"
            buckets[bucket, default: [:]]["xp:" + collection, default: 0] += entry.amount
        }
        return buckets.sorted { $0.key < $1.key }.map { ($0.key, $0.value.sorted { $0.key < $1.key }) }
    }
}
