import BotHost
import Hummingbird
import NIOCore
import NIOPosix
import Synchronization
import XRPCClient

/// The request context of the API: Hummingbird's, plus the client's address (for the
/// per-client rate limit).
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// What one client may ask of the API, and how much reading the API does at once.
public struct APILimits: Sendable {
    /// Requests a client may make in a burst, and how many more it earns per second.
    public var burst: Double = 60
    public var perSecond: Double = 20
    /// Clients remembered by the rate limiter (the oldest is forgotten past this).
    public var maxClients = 10_000
    /// Database reads running at once (threads of their own, off the event loops and the
    /// Swift concurrency pool that ingest uses), and how many may wait for one.
    public var readThreads = 2
    public var maxWaitingReads = 64
    /// subscribeLabels connections at once.
    public var maxLabelSubscribers = 256

    public init() {}
}

/// A token bucket per client address: a client over its rate gets 429 with Retry-After;
/// others are served as before.
final class ClientRateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: Double }
    private struct State {
        var buckets: [String: Bucket] = [:]
        /// Clients in arrival order; the oldest is dropped when the table is full (a ring:
        /// a flood of new addresses costs O(1) each, not a shift of the whole table).
        var order = CircularBuffer<String>()
        var refused = 0
    }
    private let state = Mutex(State())
    let limits: APILimits

    init(limits: APILimits) { self.limits = limits }

    /// Seconds to wait, or nil when the request may go ahead.
    func admit(_ client: String, now: Double = BotHost.Clock.monotonicSeconds()) -> Double? {
        guard limits.perSecond > 0 else { return nil }  // no per-client limit
        return state.withLock { s in
            var bucket = s.buckets[client] ?? {
                if s.buckets.count >= limits.maxClients, !s.order.isEmpty {
                    s.buckets[s.order.removeFirst()] = nil
                }
                s.order.append(client)
                return Bucket(tokens: limits.burst, updated: now)
            }()
            bucket.tokens = min(limits.burst, bucket.tokens + (now - bucket.updated) * limits.perSecond)
            bucket.updated = now
            defer { s.buckets[client] = bucket }
            guard bucket.tokens >= 1 else {
                s.refused += 1
                return (1 - bucket.tokens) / limits.perSecond
            }
            bucket.tokens -= 1
            return nil
        }
    }

    var refused: Int { state.withLock { $0.refused } }
}

struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let limiter: ClientRateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Health checks and metrics are the orchestrator's and the scraper's, never limited.
        if ["/healthz", "/readyz", "/metrics"].contains(request.uri.path) { return try await next(request, context) }
        let client = context.remoteAddress?.ipAddress ?? "local"
        if let wait = limiter.admit(client) {
            var response = APIServer.error(.tooManyRequests, "RateLimitExceeded", "too many requests from this client; retry later")
            response.headers[.retryAfter] = String(Int(wait.rounded(.up)) + 0)
            return response
        }
        return try await next(request, context)
    }
}

/// Runs the API's database reads on threads of their own, a bounded number at a time:
/// a slow query (a month's leaderboard) holds one of these threads, not an event loop or
/// a cooperative thread the ingest pipeline needs. Past `maxWaitingReads` the answer
/// is 503 at once.
final class ReadPool: Sendable {
    private let pool: NIOThreadPool
    private let waiting = Mutex(0)
    let maxWaiting: Int

    init(threads: Int, maxWaiting: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
        self.maxWaiting = maxWaiting
    }

    deinit { pool.shutdownGracefully { _ in } }

    struct Overloaded: Error {}

    /// Runs a read that is not a whole answer (a label stream's page); no admission limit:
    /// the stream's subscribers are bounded by themselves.
    func value<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    func run(_ body: @escaping @Sendable () -> Response) async -> Response {
        let admitted = waiting.withLock { count -> Bool in
            guard count < maxWaiting else { return false }
            count += 1
            return true
        }
        guard admitted else {
            var response = APIServer.error(.serviceUnavailable, "Overloaded", "the server is busy; retry shortly")
            response.headers[.retryAfter] = "1"
            return response
        }
        defer { waiting.withLock { $0 -= 1 } }
        do {
            return try await pool.runIfActive(body)
        } catch {
            return APIServer.error(.serviceUnavailable, "ShuttingDown", "the server is shutting down")
        }
    }
}
