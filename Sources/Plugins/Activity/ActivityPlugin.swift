import BotHost

/// Per-account activity by event type and day: every commit counts once under
/// `<collection>:<operation>` in the day of its `time_us` (the analytics the rankings
/// and the HTTP API read).
///
/// It reads every collection (`*`), which is also what keeps the host's view of an
/// account complete: the live subscription then carries all collections, like a replay.
public final class ActivityPlugin: Plugin {
    public let id = "activity"
    public let collections = ["*"]
    /// Counter per collection id × 3 + operation, registered on first use.
    private var counters: [CounterRef?] = []
    /// The day bucket of the last event, to avoid a division per event.
    private var dayStart: Int64 = 0
    private var dayEnd: Int64 = 0

    public init() {}

    public func register(in context: PluginContext) {}

    public func handle(_ event: Event, in context: PluginContext) {
        let operation = Int(context.operation.rawValue)
        let slot = Int(context.currentCollection) * 3 + operation
        if counters.count <= slot { counters.append(contentsOf: repeatElement(nil, count: slot + 1 - counters.count)) }
        let counter: CounterRef
        if let known = counters[slot] {
            counter = known
        } else {
            let name = (event.commit?.collection.string ?? "?") + ":" + ["create", "update", "delete"][operation]
            counter = context.registerCounter(name)
            counters[slot] = counter
        }
        let seconds = context.eventTimeUS / 1_000_000
        if seconds < dayStart || seconds >= dayEnd {
            dayStart = seconds - ((seconds % 86_400) + 86_400) % 86_400
            dayEnd = dayStart + 86_400
        }
        context.increment(counter, bucketStart: dayStart)
    }
}
