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
    /// Counter per (collection id, operation), registered on first use.
    private var counters: [[CounterRef?]] = []

    public init() {}

    public func register(in context: PluginContext) {}

    public func handle(_ event: Event, in context: PluginContext) {
        let collection = Int(context.currentCollection)
        let operation = Int(context.operation.rawValue)
        while counters.count <= collection { counters.append([nil, nil, nil]) }
        let counter: CounterRef
        if let known = counters[collection][operation] {
            counter = known
        } else {
            let name = (event.commit?.collection.string ?? "?") + ":" + ["create", "update", "delete"][operation]
            counter = context.registerCounter(name)
            counters[collection][operation] = counter
        }
        let seconds = context.eventTimeUS / 1_000_000
        context.increment(counter, bucketStart: seconds - seconds % 86_400)
    }
}
