import BotHost

/// Per-account activity by event type, per day and per hour: every commit counts once
/// under `<collection>:<operation>` in the day of its `time_us`, and under
/// `hour:<collection>:<operation>` in its hour (the analytics the HTTP API reads; XP per
/// period and type comes from the ledger itself). Old buckets are dropped by the store's
/// retention policy.
///
/// It reads every collection (`*`), which is also what keeps the host's view of an
/// account complete: the live subscription then carries all collections, like a replay.
public final class ActivityPlugin: Plugin {
    public let id = "activity"
    public let collections = ["*"]
    /// Counters per collection id × 3 + operation, registered on first use: (day, hour).
    private var counters: [(CounterRef, CounterRef)?] = []
    /// The hour bucket of the last event, to avoid divisions per event.
    private var hourStart: Int64 = 0
    private var hourEnd: Int64 = 0
    private var dayStart: Int64 = 0
    /// Whether hourly counts are kept (they double the counter rows).
    public let hourly: Bool

    public init(hourly: Bool = true) {
        self.hourly = hourly
    }

    public func register(in context: PluginContext) {}

    public func handle(_ event: Event, in context: PluginContext) {
        let operation = Int(context.operation.rawValue)
        let slot = Int(context.currentCollection) * 3 + operation
        if counters.count <= slot { counters.append(contentsOf: repeatElement(nil, count: slot + 1 - counters.count)) }
        let pair: (CounterRef, CounterRef)
        if let known = counters[slot] {
            pair = known
        } else {
            let name = (event.commit?.collection.string ?? "?") + ":" + ["create", "update", "delete"][operation]
            pair = (context.registerCounter(name), context.registerCounter("hour:" + name))
            // Hourly increments are summed into the daily counter when the batch closes.
            if hourly { context.rollUp(pair.1, into: pair.0, bucketSeconds: 86_400) }
            counters[slot] = pair
        }
        let seconds = context.eventTimeUS / 1_000_000
        if seconds < hourStart || seconds >= hourEnd {
            hourStart = seconds - ((seconds % 3_600) + 3_600) % 3_600
            hourEnd = hourStart + 3_600
            dayStart = seconds - ((seconds % 86_400) + 86_400) % 86_400
        }
        if hourly {
            context.increment(pair.1, bucketStart: hourStart)
        } else {
            context.increment(pair.0, bucketStart: dayStart)
        }
    }
}
