import Foundation
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

    /// Redacted (``Redact``): a server's message may echo a token.
    public var description: String { Redact.secrets(in: rawDescription) }

    private var rawDescription: String {
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
    /// Whether a header was out of range and clamped (a broken or hostile server or proxy).
    public var clamped = false

    /// The largest count believed (no real budget is near it).
    public static let maxCount = 1_000_000_000
    /// The furthest reset believed, in seconds from now: Bluesky's longest window is a day.
    public static let maxResetAhead: Int64 = 86_400

    /// Reads the headers; `nil` when the response carried none. Every value is parsed
    /// defensively and clamped (counts to 0…``maxCount``, the reset to at most
    /// ``maxResetAhead`` from `nowSeconds`), so no header can make later arithmetic trap
    /// or park the dispatcher for years. A reset below 10⁹ is read as seconds from now
    /// (the IETF draft's form) rather than as a date in 2001.
    public init?(_ response: HTTPResponse, nowSeconds: Int64 = Int64(Date().timeIntervalSince1970)) {
        var clamped = false
        func count(_ name: String) -> Int? {
            guard let text = response.header(name)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            guard let value = Int64(text) else {
                clamped = true
                return text.first == "-" ? 0 : (text.allSatisfy(\.isNumber) ? Self.maxCount : nil)
            }
            let bounded = min(max(0, value), Int64(Self.maxCount))
            if bounded != value { clamped = true }
            return Int(bounded)
        }
        let limit = count("ratelimit-limit")
        let remaining = count("ratelimit-remaining")
        var reset: Int64?
        if let text = response.header("ratelimit-reset")?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            let value = Int64(text) ?? (text.allSatisfy(\.isNumber) ? .max : -1)
            reset = Self.clampReset(value, nowSeconds: nowSeconds, clamped: &clamped)
        }
        let policy = response.header("ratelimit-policy").map { String($0.prefix(200)) }
        guard limit != nil || remaining != nil || reset != nil else { return nil }
        self.init(limit: limit, remaining: remaining, reset: reset, policy: policy)
        self.clamped = clamped
    }

    /// A reset as unix seconds within `now … now + maxResetAhead`.
    public static func clampReset(_ value: Int64, nowSeconds: Int64, clamped: inout Bool) -> Int64 {
        let absolute = value >= 0 && value < 1_000_000_000 ? nowSeconds + value : value
        let bounded = min(max(absolute, nowSeconds), nowSeconds + maxResetAhead)
        if bounded != absolute { clamped = true }
        return bounded
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
