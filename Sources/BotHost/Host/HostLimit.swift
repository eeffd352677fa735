import CoreMetrics

/// A bound the host keeps against what the network sends it (docs/security.md). When
/// one is reached the host counts it (`bothost_limit_hits_total{limit=…}`), says so in
/// the log with the reason, and goes on: a limit never stops the host.
public enum HostLimit: String, Sendable, CaseIterable {
    /// Distinct collections past ``HostState/maxCollections``: counted as "(other)".
    case collections
    /// An event dated past now + the tolerance: skipped as malformed.
    case futureEvent = "future_event"
    /// A handle that is not a valid atproto handle: not stored.
    case invalidHandle = "invalid_handle"
    /// A rate-limit header out of range: clamped.
    case rateLimitHeader = "ratelimit_header"
    /// A frame or decompressed message over its byte cap: dropped.
    case messageSize = "message_size"
    /// The frame queue's byte budget: the reader waits.
    case queueBytes = "queue_bytes"

    /// The sentence logged the first time the limit is hit.
    public var reason: String {
        switch self {
        case .collections: "more than \(HostState.maxCollections) distinct collections: further ones count as \(HostState.otherCollectionName)"
        case .futureEvent: "an event is dated in the future beyond the tolerance: skipped, the cursor does not move"
        case .invalidHandle: "an identity event carries an invalid handle: the handle is not stored"
        case .rateLimitHeader: "a rate-limit header is out of range: clamped"
        case .messageSize: "a message is larger than the cap: dropped"
        case .queueBytes: "the frame queue holds its byte budget: reading waits"
        }
    }

    /// The counter of this limit.
    public var counter: Counter { Counter(label: "bothost_limit_hits_total", dimensions: [("limit", rawValue)]) }
}

/// Counts limit hits and logs each limit's first hit and then every 2^k-th one, so a
/// flood is visible without flooding the log.
public final class LimitLog: @unchecked Sendable {
    private var hits: [HostLimit: Int] = [:]
    /// Called with the limit, its count, and a detail of this hit, when it is worth a log line.
    public var onReport: ((HostLimit, Int, String) -> Void)?

    public init() {}

    /// Records one hit.
    public func hit(_ limit: HostLimit, _ detail: @autoclosure () -> String = "") {
        let count = hits[limit, default: 0] + 1
        hits[limit] = count
        limit.counter.increment()
        if count & (count - 1) == 0 { onReport?(limit, count, detail()) }
    }

    /// Hits so far.
    public func count(_ limit: HostLimit) -> Int { hits[limit, default: 0] }
}
