/// What went wrong with an XRPC call, typed so callers can decide: refresh the session,
/// wait out a rate limit, retry later, or give up on this message.
public enum XRPCError: Error, Sendable, CustomStringConvertible {
    /// The server answered with an XRPC error body (`error`, `message`) and a status.
    case server(status: Int, error: String, message: String?, rateLimit: RateLimit?)
    /// No HTTP answer: connection refused, timeout, TLS failure.
    case transport(TransportError)
    /// A 2xx answer whose body was not the expected JSON.
    case badResponse(status: Int, detail: String)
    /// No credentials were configured, or the server refused them.
    case notAuthenticated(String)

    /// The XRPC error name (`ExpiredToken`, `RateLimitExceeded`, …), if any.
    public var errorName: String? {
        if case .server(_, let error, _, _) = self { return error }
        return nil
    }

    /// The HTTP status, when there was a response.
    public var status: Int? {
        switch self {
        case .server(let status, _, _, _), .badResponse(let status, _): return status
        default: return nil
        }
    }

    /// The rate-limit headers the server sent with the error.
    public var rateLimit: RateLimit? {
        if case .server(_, _, _, let limit) = self { return limit }
        return nil
    }

    /// Whether trying the same call again later may succeed: 5xx, 429, timeouts and
    /// connection failures; never a 4xx that says the request itself is wrong.
    public var isTransient: Bool {
        switch self {
        case .server(let status, _, _, _): return status >= 500 || status == 429 || status == 408
        case .transport(let error): return error.kind != .tls
        case .badResponse(let status, _): return status >= 500
        case .notAuthenticated: return false
        }
    }

    /// Whether the access token has expired (the PDS answers 400 `ExpiredToken`).
    public var isExpiredToken: Bool { errorName == "ExpiredToken" }

    public var description: String {
        switch self {
        case .server(let status, let error, let message, _):
            return "XRPC \(status) \(error)" + (message.map { ": \($0)" } ?? "")
        case .transport(let error): return error.description
        case .badResponse(let status, let detail): return "bad response (HTTP \(status)): \(detail)"
        case .notAuthenticated(let why): return "not authenticated: \(why)"
        }
    }
}

/// The `RateLimit-*` headers of a response.
public struct RateLimit: Sendable, Equatable {
    public var limit: Int?
    public var remaining: Int?
    /// Unix seconds when the window resets.
    public var reset: Int64?
    public var policy: String?

    /// Reads the headers; `nil` when the response carried none.
    public init?(_ response: HTTPResponse) {
        let limit = response.header("ratelimit-limit").flatMap { Int($0) }
        let remaining = response.header("ratelimit-remaining").flatMap { Int($0) }
        let reset = response.header("ratelimit-reset").flatMap { Int64($0) }
        let policy = response.header("ratelimit-policy")
        guard limit != nil || remaining != nil || reset != nil else { return nil }
        self.init(limit: limit, remaining: remaining, reset: reset, policy: policy)
    }

    public init(limit: Int?, remaining: Int?, reset: Int64?, policy: String?) {
        self.limit = limit
        self.remaining = remaining
        self.reset = reset
        self.policy = policy
    }

    /// The window length in seconds from a policy such as `5000;w=3600`.
    public var windowSeconds: Int64? {
        guard let policy, let range = policy.split(separator: ";").first(where: { $0.hasPrefix("w=") }) else { return nil }
        return Int64(range.dropFirst(2))
    }
}
