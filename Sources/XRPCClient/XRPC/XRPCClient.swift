#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An AT Protocol XRPC client over libcurl, holding the bot account's session.
///
/// It owns the session life cycle so callers never see it: a call answered
/// `ExpiredToken` refreshes the session and is repeated; when the refresh token is dead
/// too it logs in again. Transient failures (5xx, timeouts, connection refused) are
/// retried with jittered exponential backoff, but only for calls that are safe to repeat
/// (reads, and writes made idempotent by an explicit record key); a 429 is waited out
/// when its window resets soon, and otherwise handed to the caller with its
/// ``RateLimit`` so it can schedule the work for later.
public actor XRPCClient {
    /// Base URL of the PDS, e.g. `https://bsky.social` (no trailing slash).
    public nonisolated let service: String
    private let transport: CurlTransport
    private let credentials: Credentials?
    public var retry: RetryPolicy
    private var session: Session?
    /// The last `RateLimit-*` headers seen on any response.
    public private(set) var lastRateLimit: RateLimit?
    /// Counts for tests and metrics.
    public private(set) var stats = Stats()
    private let encoder: JSONEncoder
    private let decoder = JSONDecoder()

    public struct Stats: Sendable {
        public var requests = 0
        public var logins = 0
        public var refreshes = 0
        public var retries = 0
        public var rateLimitWaits = 0
        public var newConnections = 0
    }

    /// The service that chat calls are proxied to through the PDS.
    public static let chatProxy = "did:web:api.bsky.chat#bsky_chat"

    /// - Parameters:
    ///   - service: the PDS base URL. `http://` is accepted only for loopback hosts:
    ///     app passwords and tokens never cross a network in clear text.
    public init(service: String, credentials: Credentials?, retry: RetryPolicy = RetryPolicy(),
                timeouts: CurlTransport.Timeouts = .init()) throws(XRPCError) {
        var service = service
        while service.hasSuffix("/") { service.removeLast() }
        guard Self.isAllowedService(service) else {
            throw .notAuthenticated("service URL must be https:// (http:// only for 127.0.0.1, ::1 or localhost): \(service)")
        }
        self.service = service
        self.credentials = credentials
        self.retry = retry
        self.transport = CurlTransport(timeouts: timeouts)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        self.encoder = encoder
    }

    static func isAllowedService(_ url: String) -> Bool {
        if url.hasPrefix("https://") { return url.count > 8 }
        guard url.hasPrefix("http://") else { return false }
        let rest = url.dropFirst(7)
        let host: Substring
        if rest.hasPrefix("[") { host = rest.prefix(while: { $0 != "]" }).dropFirst() }
        else { host = rest.prefix(while: { $0 != ":" && $0 != "/" }) }
        return host == "127.0.0.1" || host == "localhost" || host == "::1"
    }

    /// The logged-in account's DID, logging in first if needed.
    public func accountDID() async throws(XRPCError) -> String {
        try await ensureSession().did
    }

    /// The current session's handle, if logged in.
    public var handle: String? { session?.handle }

    // MARK: - Sessions

    /// `com.atproto.server.createSession`.
    @discardableResult
    public func login() async throws(XRPCError) -> Session {
        guard let credentials else { throw .notAuthenticated("no bot credentials configured") }
        struct Input: Encodable { var identifier: String; var password: String }
        let body = try encode(Input(identifier: credentials.identifier, password: credentials.password.reveal()))
        let response = try await send("com.atproto.server.createSession", method: .post, body: body, auth: .none,
                                      idempotent: true)
        let session: Session = try decode(response)
        self.session = session
        stats.logins += 1
        return session
    }

    /// `com.atproto.server.refreshSession`; logs in again when the refresh token is dead.
    public func refreshSession() async throws(XRPCError) {
        guard session != nil else { try await login(); return }
        do {
            let response = try await send("com.atproto.server.refreshSession", method: .post, body: [], auth: .refresh,
                                          idempotent: false)
            session = try decode(response)
            stats.refreshes += 1
        } catch {
            guard case .server(let status, _, _, _) = error, status == 400 || status == 401 else { throw error }
            session = nil
            try await login()
        }
    }

    private func ensureSession() async throws(XRPCError) -> Session {
        if let session { return session }
        return try await login()
    }

    // MARK: - Calls

    /// Auth a request carries.
    enum Auth { case none, access, refresh }

    /// An XRPC query (HTTP GET) decoded as `Output`.
    public func query<Output: Decodable>(_ nsid: String, _ parameters: [(String, String)] = [],
                                          authenticated: Bool = true, proxy: String? = nil,
                                          as: Output.Type = Output.self) async throws(XRPCError) -> Output {
        let response = try await send(nsid, method: .get, parameters: parameters, body: [],
                                      auth: authenticated ? .access : .none, proxy: proxy, idempotent: true)
        return try decode(response)
    }

    /// An XRPC procedure (HTTP POST with a JSON body) decoded as `Output`.
    ///
    /// - Parameter idempotent: whether repeating the call after an ambiguous failure (a
    ///   timeout, a 5xx: the server may have applied it) is harmless.
    public func procedure<Input: Encodable, Output: Decodable>(
        _ nsid: String, _ input: Input, proxy: String? = nil, idempotent: Bool, as: Output.Type = Output.self
    ) async throws(XRPCError) -> Output {
        let response = try await send(nsid, method: .post, body: try encode(input), auth: .access, proxy: proxy,
                                      idempotent: idempotent)
        if Output.self == Empty.self, response.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D }) {
            return Empty() as! Output
        }
        return try decode(response)
    }

    /// An output with no fields the caller needs.
    public struct Empty: Codable, Sendable { public init() {} }

    private func send(_ nsid: String, method: HTTPRequest.Method, parameters: [(String, String)] = [],
                      body: [UInt8], auth: Auth, proxy: String? = nil, idempotent: Bool) async throws(XRPCError) -> HTTPResponse {
        var url = "\(service)/xrpc/\(nsid)"
        if !parameters.isEmpty {
            url += "?" + parameters.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
        }
        var attempt = 0
        var refreshed = false
        while true {
            var headers: [(name: String, value: String)] = [("Accept", "application/json")]
            if method == .post { headers.append(("Content-Type", "application/json")) }
            if let proxy { headers.append(("atproto-proxy", proxy)) }
            switch auth {
            case .none: break
            case .access: headers.append(("Authorization", "Bearer " + (try await ensureSession()).accessJwt))
            case .refresh:
                guard let session else { throw .notAuthenticated("no session to refresh") }
                headers.append(("Authorization", "Bearer " + session.refreshJwt))
            }
            stats.requests += 1
            let response: HTTPResponse
            do {
                response = try await transport.perform(HTTPRequest(method: method, url: url, headers: headers, body: body))
            } catch {
                // A connection that was never made cannot have applied anything.
                let safe = idempotent || error.kind == .connect
                attempt += 1
                guard safe, error.kind != .tls, attempt < retry.maxAttempts else { throw .transport(error) }
                try await backoff(attempt)
                continue
            }
            if response.newConnection { stats.newConnections += 1 }
            let rateLimit = RateLimit(response)
            if let rateLimit { lastRateLimit = rateLimit }
            if (200..<300).contains(response.status) { return response }
            let failure = Self.error(from: response, rateLimit: rateLimit)
            if failure.isExpiredToken && auth == .access && !refreshed {
                refreshed = true
                try await refreshSession()
                continue
            }
            if response.status == 401 && auth == .access && !refreshed && credentials != nil {
                // An invalid (not expired) token: the server forgot the session.
                refreshed = true
                session = nil
                continue
            }
            attempt += 1
            if response.status == 429 {
                // Nothing was applied: always safe to repeat once the window resets.
                let now = WallClock.nowUS() / 1_000_000
                var clamped = false
                let retryAfter = response.header("retry-after").flatMap { Int64($0.filter { $0 != " " }) }
                let reset = rateLimit?.reset ?? retryAfter.map { RateLimit.clampReset(min(max(0, $0), RateLimit.maxResetAhead), nowSeconds: now, clamped: &clamped) } ?? now + 1
                let wait = min(max(0, reset - now), RateLimit.maxResetAhead)
                guard wait <= retry.maxRateLimitWaitSeconds, attempt < retry.maxAttempts * 2 else { throw failure }
                stats.rateLimitWaits += 1
                try await sleep(ms: Int(wait) * 1_000 + 250)
                continue
            }
            guard failure.isTransient, idempotent, attempt < retry.maxAttempts else { throw failure }
            try await backoff(attempt)
        }
    }

    private func backoff(_ attempt: Int) async throws(XRPCError) {
        stats.retries += 1
        try await sleep(ms: retry.delayMS(attempt: attempt - 1))
    }

    private func sleep(ms: Int) async throws(XRPCError) {
        do { try await Task.sleep(for: .milliseconds(ms)) } catch {
            throw .transport(TransportError(kind: .other, code: -1, message: "cancelled"))
        }
    }

    static func error(from response: HTTPResponse, rateLimit: RateLimit?) -> XRPCError {
        struct Body: Decodable { var error: String?; var message: String? }
        let body = try? JSONDecoder().decode(Body.self, from: Data(response.body))
        let name = body?.error ?? (response.status == 429 ? "RateLimitExceeded" : "HTTP\(response.status)")
        return .server(status: response.status, error: name, message: body?.message, rateLimit: rateLimit)
    }

    private func encode(_ value: some Encodable) throws(XRPCError) -> [UInt8] {
        do { return Array(try encoder.encode(value)) } catch {
            throw .badResponse(status: 0, detail: "cannot encode request: \(error)")
        }
    }

    private func decode<T: Decodable>(_ response: HTTPResponse) throws(XRPCError) -> T {
        do { return try decoder.decode(T.self, from: Data(response.body)) } catch {
            let preview = String(decoding: response.body.prefix(200), as: UTF8.self)
            throw .badResponse(status: response.status, detail: "expected \(T.self): \(preview)")
        }
    }

    static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                result += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return result
    }
}
