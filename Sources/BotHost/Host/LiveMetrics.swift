import CoreMetrics
import Metrics

/// The host's counters and gauges (swift-metrics: a no-op until a backend such as
/// Prometheus is bootstrapped).
public enum LiveMetrics {
    public static let events = Counter(label: "bothost_events_total")
    public static let duplicates = Counter(label: "bothost_duplicates_total")
    public static let reconnects = Counter(label: "bothost_jetstream_reconnects_total")
    public static let gaps = Counter(label: "bothost_jetstream_gaps_total")
    public static let gapSeconds = Gauge(label: "bothost_jetstream_last_gap_seconds")
    public static let lagSeconds = Gauge(label: "bothost_event_lag_seconds")
    public static let queueDepth = Gauge(label: "bothost_queue_depth")
    public static let batchSize = Recorder(label: "bothost_batch_events")
    public static let commitSeconds = Timer(label: "bothost_commit_seconds")

    /// Malformed events by reason.
    public static func malformed(_ reason: String) -> Counter {
        Counter(label: "bothost_malformed_total", dimensions: [("reason", reason)])
    }
}
