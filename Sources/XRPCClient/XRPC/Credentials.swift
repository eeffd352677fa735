/// A secret string (an app password, a JWT) that never prints: its description, debug
/// description and reflection all show `<redacted>`, so no log line, error message or
/// `--format json` output can carry it by accident.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String
    /// Also registers the value with ``Redact``: wherever it shows up later (an error body
    /// echoing it, a URL), it is replaced before it is logged or shown.
    public init(_ value: String) {
        self.value = value
        Redact.register(value)
    }
    /// The secret itself, for the one place that sends it.
    public func reveal() -> String { value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
    public var isEmpty: Bool { value.isEmpty }
}

/// The bot account's login: a handle or DID and an app password.
public struct Credentials: Sendable, CustomStringConvertible {
    public var identifier: String
    public var password: Secret
    public init(identifier: String, password: Secret) {
        self.identifier = identifier
        self.password = password
    }
    public var description: String { "\(identifier) (app password <redacted>)" }
}

/// How failed calls are retried inside the client.
public struct RetryPolicy: Sendable {
    /// Attempts for one call, counting the first.
    public var maxAttempts: Int
    /// First backoff; doubled each attempt, with full jitter.
    public var baseDelayMS: Int
    public var maxDelayMS: Int
    /// The longest a call waits for a rate-limit window to reset before giving the
    /// 429 to the caller (who schedules the work for after the reset instead).
    public var maxRateLimitWaitSeconds: Int64

    public init(maxAttempts: Int = 4, baseDelayMS: Int = 250, maxDelayMS: Int = 8_000, maxRateLimitWaitSeconds: Int64 = 60) {
        self.maxAttempts = maxAttempts
        self.baseDelayMS = baseDelayMS
        self.maxDelayMS = maxDelayMS
        self.maxRateLimitWaitSeconds = maxRateLimitWaitSeconds
    }

    /// Exponential backoff with full jitter (AWS architecture blog): a random delay up
    /// to base·2^attempt, so many clients that failed together do not retry together.
    public func delayMS(attempt: Int) -> Int {
        let cap = min(maxDelayMS, baseDelayMS << min(attempt, 16))
        return Int.random(in: cap / 2...max(cap / 2, cap))
    }
}
