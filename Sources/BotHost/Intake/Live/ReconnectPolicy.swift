/// Decides where and when to reconnect, and from which cursor, as a pure value so the
/// policy is tested without sockets (the connection loop does the I/O).
///
/// - Backoff: exponential with jitter, reset after a session that delivered events.
/// - Failover: a session that delivered nothing moves to the next configured host.
/// - Cursor: resuming from the stored cursor rewinds `rewind` (events committed just
///   before a crash may be re-sent; idempotency absorbs them). Within a run the rewind
///   after a session is at most half of what that session advanced, so even when every
///   connection drops after a few hundred events each reconnect makes progress.
public struct ReconnectPolicy: Sendable, Equatable {
    /// Hosts (ws:// or wss:// base URLs), tried in order.
    public let hosts: [String]
    /// Delay after the first failure.
    public var initialDelay: Double = 0.25
    /// Longest delay between attempts.
    public var maxDelay: Double = 30
    /// Fraction of random jitter added to or removed from each delay.
    public var jitter: Double = 0.2
    /// How far a resume goes back before the cursor, in microseconds.
    public var rewindUS: Int64 = 5_000_000

    /// Index of the host to connect to next.
    public private(set) var hostIndex = 0
    /// Consecutive sessions without events.
    public private(set) var failures = 0
    /// The cursor to send on the next connection (nil: live tail).
    public private(set) var cursor: Int64?

    public init(hosts: [String], storedCursor: Int64?, rewindUS: Int64 = 5_000_000) {
        precondition(!hosts.isEmpty, "at least one Jetstream host")
        self.hosts = hosts
        self.rewindUS = rewindUS
        if let storedCursor, storedCursor > 0 { cursor = max(0, storedCursor - rewindUS) }
    }

    /// The host of the next connection.
    public var host: String { hosts[hostIndex] }

    /// Records the end of a session and returns the delay before the next attempt.
    ///
    /// - Parameters:
    ///   - firstTimeUS: `time_us` of the first event the session delivered (nil: none).
    ///   - maxTimeUS: the highest `time_us` applied so far (0: none yet).
    ///   - random: a number in 0..<1 for the jitter (injected for tests).
    public mutating func sessionEnded(firstTimeUS: Int64?, maxTimeUS: Int64, random: Double) -> Double {
        if let firstTimeUS {
            let start = cursor ?? firstTimeUS
            let advanced = max(0, maxTimeUS - start)
            let rewind = min(rewindUS, advanced / 2)
            let next = maxTimeUS - rewind
            if next > (cursor ?? -1) {
                cursor = next
                failures = 0
                return 0
            }
            // Events, but no progress (the server re-sent what we had): back off on
            // the same host.
        } else {
            hostIndex = (hostIndex + 1) % hosts.count
        }
        failures += 1
        var delay = initialDelay
        for _ in 1..<failures where delay < maxDelay { delay *= 2 }
        delay = min(delay, maxDelay)
        return max(0, delay * (1 + jitter * (random * 2 - 1)))
    }
}
