import BotHost
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import XRPCClient
import NIOCore
import CoreMetrics
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import Rules
import UnixSignals

/// The read-only HTTP API over a database: the character lookup of the Jetstream RPG,
/// sliding leaderboards and per-account activity, plus health checks.
///
/// Every answer is JSON; errors are `{"error": CODE, "message": TEXT}` with a fitting
/// status. Leaderboards carry `Cache-Control` with a TTL per window and an `ETag`.
public struct APIServer: Sendable {
    /// The database served (a reader connection; the host may be writing).
    public let store: any StateReading
    /// The level curve, for XP to the next level.
    public let curve: LevelCurve
    /// Where `/metrics` reads from (nil: the endpoint answers 404).
    public let registry: PrometheusCollectorRegistry?
    /// Admin endpoints, when a token and a writable store were given.
    let admin: AdminAPI?
    /// Rendered leaderboard pages by ETag (the ETag names the "as of" time, so a new
    /// commit makes new keys and old pages age out).
    let cache = LeaderboardCache()
    /// Per-client rate limit and the bounded pool the database reads run on.
    let limiter: ClientRateLimiter
    let reads: ReadPool
    /// The season calendar (`seasons:` in the config), for `/v1/seasons`.
    public let seasons: SeasonCalendar?
    /// The labeler's labels (both stores have them), for queryLabels and subscribeLabels.
    let labels: (any LabelReading)?
    let labelStreams: LabelStream?

    /// - Parameters:
    ///   - adminToken: enables the admin endpoints (bearer token); nil keeps the API read-only.
    ///   - adminStore: a writable store for the admin endpoints (the read store may be read-only).
    public init(store: any StateReading, curve: LevelCurve = .default, registry: PrometheusCollectorRegistry? = nil,
                adminToken: String? = nil, adminStore: (any ModerationWriting)? = nil, limits: APILimits = APILimits(),
                seasons: SeasonCalendar? = nil) {
        self.store = store
        self.seasons = seasons
        limiter = ClientRateLimiter(limits: limits)
        reads = ReadPool(threads: limits.readThreads, maxWaiting: limits.maxWaitingReads)
        self.curve = curve
        self.registry = registry
        let labels = store as? any LabelReading
        self.labels = labels
        let reads = self.reads
        labelStreams = labels.map { LabelStream(store: $0, reads: reads, maxSubscribers: limits.maxLabelSubscribers) }
        if let adminToken, !adminToken.isEmpty, let writer = adminStore ?? (store as? any ModerationWriting) { admin = AdminAPI(store: writer, token: adminToken) } else { admin = nil }
    }

    /// Seconds a leaderboard may be cached: short for the hour board, longer for the month.
    public static func cacheSeconds(_ window: RankingWindow) -> Int {
        switch window {
        case .hour: 10
        case .day: 60
        case .week: 300
        case .month: 900
        }
    }

    /// The routes, for an `Application` or for tests.
    public func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: GetOnlyMiddleware())
        router.add(middleware: RateLimitMiddleware(limiter: limiter))
        admin?.register(on: router)
        registerLabels(on: router)
        router.get("/") { request, _ -> Response in
            await reads.run { Self.guarded {
                let asOf = try cache.asOf { try store.readCursor() ?? Clock.nowMicroseconds() }
                let boards = try RankingWindow.allCases.map { window -> WebPages.Board in
                    let entries = Array(try top(window, asOf: asOf).prefix(10))
                    // Where each stood in the window before (same length, ending where this one starts).
                    let before = try top(window, asOf: asOf - window.microseconds)
                    let previous = Dictionary(before.map { ($0.did, $0.rank) }, uniquingKeysWith: min)
                    return WebPages.Board(window: window, entries: entries,
                                          movement: entries.map { WebPages.Movement(now: $0.rank, before: previous[$0.did]) })
                }
                return Self.page(WebPages.leaderboards(boards, asOf: asOf), request)
            } }
        }
        router.get("/search") { request, _ -> Response in
            var query = String((request.uri.queryParameters.get("q") ?? "").drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
            if query.hasPrefix("@") { query.removeFirst() }
            guard !query.isEmpty, query.utf8.count <= 2_048 else {
                return Self.html(WebPages.notFound(query).html, status: .notFound)
            }
            let key = query
            return await reads.run { Self.guarded {
                guard let account = try store.account(key) else {
                    return Self.html(WebPages.notFound(key).html, status: .notFound)
                }
                var headers = HTTPFields()
                // A DID's characters ([A-Za-z0-9._:%-]) are all allowed in a path.
                headers[.location] = "/accounts/\(account.did)"
                return Response(status: .seeOther, headers: headers)
            } }
        }
        router.get("/accounts/:account") { request, context -> Response in
            let key = context.parameters.get("account") ?? ""
            return await reads.run { Self.guarded {
                guard let account = try store.account(key) else {
                    return Self.html(WebPages.notFound(key).html, status: .notFound)
                }
                // The page charts at most the newest 5,000 entries: one request reads a bounded amount.
                let ledger = try store.ledger(account: account.id, limit: 5_000)
                var total: Int64 = 0
                let series = ledger.reversed().map { entry -> (timeUS: Int64, xp: Int64) in
                    total = max(0, total + entry.amount)
                    return (entry.timeUS, total)
                }
                let asOf = try cache.asOf { try store.readCursor() ?? Clock.nowMicroseconds() }
                let ranks = try RankingWindow.allCases.map { window in
                    (window, try top(window, asOf: asOf).first { $0.did == account.did }?.rank)
                }
                // The current season: the account's season XP and rank among its top 1,000.
                var season: (name: String, score: Int64, rank: Int?)?
                if let calendar = seasons, let current = calendar.season(containing: asOf) {
                    let mine = try store.leaderboard(from: current.startUS - 1, to: asOf, limit: 1_000).first { $0.did == account.did }
                    season = (current.name, mine?.score ?? 0, mine?.rank)
                }
                return Self.page(WebPages.account(account, curve: curve, series: series,
                                                  counts: try store.activityTotals(did: account.did), ledger: ledger,
                                                  ranks: ranks, season: season), request)
            } }
        }
        router.get("/healthz") { _, _ in Self.json(.ok, #"{"status":"ok"}"#) }
        router.get("/readyz") { _, _ -> Response in
            await reads.run {
                do {
                    _ = try store.status()
                    return Self.json(.ok, #"{"status":"ready"}"#)
                } catch {
                    return Self.error(.serviceUnavailable, "NotReady", "the database cannot be read")
                }
            }
        }
        router.get("/metrics") { _, _ -> Response in
            guard let registry else { return Self.error(.notFound, "NoMetrics", "this server exports no metrics") }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("/v1/characters/:account") { _, context -> Response in
            let key = context.parameters.get("account") ?? ""
            return await reads.run { Self.guarded { try character(key) } }
        }
        router.get("/v1/leaderboards/:window") { request, context -> Response in
            let window = context.parameters.get("window") ?? ""
            // A page already rendered for the current "as of" is answered on the event
            // loop: no hop to the read pool, no query (the warm path of a busy board).
            if let cached = cachedLeaderboard(request, window: window) { return cached }
            return await reads.run { Self.guarded { try leaderboard(request, window: window) } }
        }
        router.get("/seasons") { request, _ -> Response in
            await reads.run { Self.guarded { try seasonPage("current", request) } }
        }
        router.get("/seasons/:season") { request, context -> Response in
            let name = context.parameters.get("season") ?? ""
            return await reads.run { Self.guarded { try seasonPage(name, request) } }
        }
        router.get("/v1/seasons") { _, _ -> Response in
            await reads.run { Self.guarded { try seasonsIndex() } }
        }
        router.get("/v1/seasons/:season") { request, context -> Response in
            let name = context.parameters.get("season") ?? ""
            return await reads.run { Self.guarded { try season(name, request) } }
        }
        router.get("/v1/accounts/:did/activity") { request, context -> Response in
            let did = context.parameters.get("did") ?? ""
            let bucket = request.uri.queryParameters.get("bucket") ?? "day"
            return await reads.run { Self.guarded { try activity(did, bucket: bucket) } }
        }
        return router
    }

    /// Serves on `host:port` until cancelled; `onRunning` gets the bound port.
    public func run(host: String, port: Int, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(host: host, port: port, logger: logger, onRunning: onRunning)
            .runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// The application, to run as one service among others (`bothost run --http-port`).
    public func application(host: String, port: Int, logger: Logger,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol & Service {
        let streams = labelStreams
        return Application(
            router: router(),
            // subscribeLabels is the one WebSocket; every other request is plain HTTP.
            server: .http1WebSocketUpgrade(configuration: .init(ws: .init(maxFrameSize: 1 << 16, autoPing: .enabled(timePeriod: .seconds(30))))) {
                request, _, logger in
                let target = request.path ?? ""
                guard let streams, target.prefix(while: { $0 != "?" }) == Self.subscribeLabelsPath else { return .dontUpgrade }
                // Parsed as the router parses it (percent-decoded), so a refused upgrade and
                // the route's answer agree on why.
                let text = URI(String(target)).queryParameters["cursor"].map(String.init)
                guard LabelStream.cursorProblem(text) == nil else { return .dontUpgrade }
                let cursor = text.flatMap { Int64($0) }
                guard streams.admit() else { return .dontUpgrade }
                let start = cursor
                return .upgrade([:]) { inbound, outbound, _ in
                    await streams.serve(cursor: start, inbound: inbound, outbound: outbound, logger: logger)
                }
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "bothost"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) }, logger: logger)
    }

    /// Installs a Prometheus registry as the swift-metrics backend (once per process)
    /// and returns it for `/metrics`.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    // MARK: - Handlers

    func character(_ key: String) throws -> Response {
        guard let account = try store.account(key) else {
            return Self.error(.notFound, "AccountNotFound", "no account \(key)")
        }
        let current = curve.xpToReach(level: account.level)
        let next = curve.xpToReach(level: account.level + 1)
        let progress = next > current ? Double(account.xp - current) / Double(next - current) * 100 : 100
        let counts = try store.activityTotals(did: account.did)
        let ledger = try store.ledger(account: account.id, limit: 20)
        let json = JSONWriter()
        json.object {
            json.field("did", account.did)
            json.field("handle", account.handle)
            json.field("display_name", account.displayName)
            json.field("level", account.level)
            json.field("xp", account.xp)
            json.field("xp_to_next_level", max(0, next - account.xp))
            json.field("progress_percent", (progress * 10).rounded() / 10)
            json.array("milestones") { for level in account.milestones { json.element(level) } }
            json.field("status", account.status)
            json.key("counts")
            json.object { for (name, value) in counts { json.field(name, value) } }
            json.array("recent_ledger") {
                for entry in ledger {
                    json.object {
                        json.field("kind", entry.kind)
                        json.field("amount", entry.amount)
                        json.field("rule", "\(entry.plugin)/\(entry.rule)")
                        json.field("version", entry.version)
                        json.field("event", entry.uri)
                        json.field("time", ISOTime.format(microseconds: entry.timeUS))
                    }
                }
            }
        }
        return Self.json(.ok, json.output)
    }

    /// A leaderboard request's window and page, or the error to answer.
    private func leaderboardQuery(_ request: Request, window name: String) -> Result<(RankingWindow, offset: Int, limit: Int), LeaderboardQueryError> {
        guard let window = RankingWindow(rawValue: name) else {
            return .failure(LeaderboardQueryError(Self.error(.notFound, "UnknownWindow", "no leaderboard \(name); expected hour, day, week or month")))
        }
        let query = request.uri.queryParameters
        let rawLimit = query.get("limit")
        guard let limit = rawLimit.map({ Int($0) }) ?? 100, (1...1000).contains(limit) else {
            return .failure(LeaderboardQueryError(Self.error(.badRequest, "InvalidLimit", "limit must be an integer between 1 and 1000")))
        }
        let rawCursor = query.get("cursor")
        guard let offset = rawCursor.map({ Int($0) }) ?? 0, offset >= 0 && offset <= 1000 else {
            return .failure(LeaderboardQueryError(Self.error(.badRequest, "InvalidCursor", "cursor must be an offset from 0 to 1000")))
        }
        return .success((window, offset, limit))
    }

    private func leaderboardHeaders(_ window: RankingWindow, etag: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "public, max-age=\(Self.cacheSeconds(window))"
        headers[.eTag] = etag
        return headers
    }

    /// The answer from the cache alone (nil: the read pool must read or render).
    func cachedLeaderboard(_ request: Request, window name: String) -> Response? {
        guard case let .success((window, offset, limit)) = leaderboardQuery(request, window: name), let asOf = cache.freshAsOf() else {
            return nil
        }
        let etag = "\"\(window.rawValue)-\(asOf)-\(offset)-\(limit)\""
        if request.headers[.ifNoneMatch] == etag { return Response(status: .notModified, headers: leaderboardHeaders(window, etag: etag)) }
        guard let body = cache.cachedBody(for: etag) else { return nil }
        return Response(status: .ok, headers: leaderboardHeaders(window, etag: etag), body: .init(byteBuffer: body))
    }

    func leaderboard(_ request: Request, window name: String) throws -> Response {
        let (window, offset, limit): (RankingWindow, Int, Int)
        switch leaderboardQuery(request, window: name) {
        case let .failure(error): return error.response
        case let .success(query): (window, offset, limit) = query
        }
        let asOf = try cache.asOf { try store.readCursor() ?? Clock.nowMicroseconds() }
        let etag = "\"\(window.rawValue)-\(asOf)-\(offset)-\(limit)\""
        let headers = leaderboardHeaders(window, etag: etag)
        if request.headers[.ifNoneMatch] == etag {
            return Response(status: .notModified, headers: headers)
        }
        let body = try cache.body(for: etag) { try renderLeaderboard(window, asOf: asOf, offset: offset, limit: limit) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// The JSON of one leaderboard page.
    func renderLeaderboard(_ window: RankingWindow, asOf: Int64, offset: Int, limit: Int) throws -> ByteBuffer {
        // The whole top 1,000 is read once per window and "as of" time, whatever page or
        // page size is asked: varying `limit` or `cursor` cannot make the server re-read.
        let board = try top(window, asOf: asOf)
        let all = board.prefix(offset + limit)
        let page = all.dropFirst(offset)
        let json = JSONWriter()
        json.object {
            json.field("window", window.rawValue)
            json.field("as_of", ISOTime.format(microseconds: asOf))
            json.array("entries") {
                for entry in page {
                    json.object {
                        json.field("rank", entry.rank)
                        json.field("did", entry.did)
                        json.field("handle", entry.handle)
                        json.field("display_name", entry.displayName)
                        json.field("score", entry.score)
                        json.field("xp", entry.xp)
                        json.field("level", entry.level)
                    }
                }
            }
            if all.count == offset + limit && offset + limit < 1000 { json.field("cursor", String(offset + limit)) }
        }
        return ByteBuffer(string: json.output)
    }

    func activity(_ did: String, bucket: String) throws -> Response {
        guard bucket == "day" || bucket == "hour" else { return Self.error(.badRequest, "InvalidBucket", "bucket must be day or hour") }
        guard try store.account(did) != nil else { return Self.error(.notFound, "AccountNotFound", "no account \(did)") }
        let rows = try store.activity(did: did, hourly: bucket == "hour")
        let json = JSONWriter()
        json.object {
            json.field("did", did)
            json.field("bucket", bucket)
            json.array("buckets") {
                for (start, counts) in rows {
                    json.object {
                        json.field("start", ISOTime.format(microseconds: start * 1_000_000))
                        json.key("counts")
                        json.object { for (name, value) in counts { json.field(name, value) } }
                    }
                }
            }
        }
        return Self.json(.ok, json.output)
    }

    /// Runs a handler, answering a failure as a JSON 500 instead of an empty one.
    static func guarded(_ body: () throws -> Response) -> Response {
        do {
            return try body()
        } catch {
            return internalError(error)
        }
    }

    /// A failure inside the server: the client learns only that it happened and when (to
    /// quote to the operator); the error itself, which may name paths, queries or
    /// credentials, goes to the log, redacted.
    static func internalError(_ error: any Error) -> Response {
        let reference = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        errorLogger.error("internal error answered as HTTP 500", metadata: ["reference": "\(reference)", "error": "\(Redact.secrets(in: String(describing: error)))"])
        return Self.error(.internalServerError, "InternalError", "internal error (reference \(reference); see the server log)")
    }

    static let errorLogger = Logger(label: "bothost.http")

    /// A window's top 1,000 at an "as of" time, read once per "as of" time (the pages'
    /// boards, movements and ranks, and the JSON leaderboards share it).
    func top(_ window: RankingWindow, asOf: Int64) throws -> [RankedAccount] {
        try cache.board("\(window.rawValue)-\(asOf)") { try store.leaderboard(window: window, asOf: asOf, limit: 1000) }
    }

    /// A rendered page with its ETag, or 304 when the client has it already (the page's
    /// own poll).
    static func page(_ rendered: (html: String, etag: String), _ request: Request) -> Response {
        var headers = HTTPFields()
        headers[.eTag] = rendered.etag
        headers[.cacheControl] = "no-cache"
        if request.headers[.ifNoneMatch] == rendered.etag { return Response(status: .notModified, headers: headers) }
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: rendered.html)))
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        let json = JSONWriter()
        json.object {
            json.field("error", code)
            json.field("message", message)
        }
        return Self.json(status, json.output)
    }
}

/// Every endpoint is read-only: any method but GET and HEAD is answered 405.
struct GetOnlyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let isAdmin = request.uri.path.hasPrefix("/v1/admin/")
        guard request.method == .get || request.method == .head || (isAdmin && request.method == .post) else {
            var response = APIServer.error(.methodNotAllowed, "MethodNotAllowed", "\(request.method) is not allowed: this API is read-only")
            response.headers[.allow] = isAdmin ? "POST" : "GET, HEAD"
            return response
        }
        return try await next(request, context)
    }
}

/// A refused leaderboard query, with its answer.
struct LeaderboardQueryError: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

/// Warm-path cache of the leaderboards: the "as of" time is re-read at most every 100 ms,
/// and each page is rendered once per "as of" time, so a request under load costs a lock
/// and a dictionary lookup instead of a ledger query.
final class LeaderboardCache: Sendable {
    private struct State {
        var asOf: Int64 = 0
        var asOfReadAt = -1.0
        var pages: [String: ByteBuffer] = [:]
        var boards: [String: [RankedAccount]] = [:]
    }
    private let state = Mutex(State())

    /// The "as of" time when it was read less than 100 ms ago (nil: read it again).
    func freshAsOf() -> Int64? {
        let now = Clock.monotonicSeconds()
        return state.withLock { now - $0.asOfReadAt < 0.1 ? $0.asOf : nil }
    }

    /// A rendered page, if there is one.
    func cachedBody(for key: String) -> ByteBuffer? {
        state.withLock { $0.pages[key] }
    }

    func asOf(_ read: () throws -> Int64) throws -> Int64 {
        let now = Clock.monotonicSeconds()
        if let cached = state.withLock({ now - $0.asOfReadAt < 0.1 ? $0.asOf : nil }) { return cached }
        let value = try read()
        state.withLock { s in
            if value != s.asOf {
                s.pages.removeAll()
                s.boards.removeAll()
            }
            s.asOf = value
            s.asOfReadAt = now
        }
        return value
    }

    /// A window's top 1,000 at one "as of" time.
    func board(_ key: String, _ read: () throws -> [RankedAccount]) throws -> [RankedAccount] {
        if let cached = state.withLock({ $0.boards[key] }) { return cached }
        let rows = try read()
        state.withLock { s in
            if s.boards.count > 16 { s.boards.removeAll() }
            s.boards[key] = rows
        }
        return rows
    }

    func body(for key: String, _ render: () throws -> ByteBuffer) throws -> ByteBuffer {
        if let cached = state.withLock({ $0.pages[key] }) { return cached }
        let body = try render()
        state.withLock { s in
            if s.pages.count > 256 { s.pages.removeAll() }
            s.pages[key] = body
        }
        return body
    }
}
