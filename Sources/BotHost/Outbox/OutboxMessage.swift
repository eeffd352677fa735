import XRPCClient

/// One row of the outbox as the dispatcher and the CLI see it.
public struct OutboxMessage: Sendable, Equatable {
    public var id: Int64
    /// Idempotency key: `milestone:<did>:<level>` or `confirm:<post uri>`.
    public var key: String
    public var kind: String
    public var did: String
    public var handle: String?
    /// `pending`, `sent`, `failed`, `cancelled` or `skipped`.
    public var state: String
    public var attempts: Int
    public var nextAtUS: Int64
    /// Time of the event that queued it.
    public var createdUS: Int64
    public var lastError: String?
    public var uri: String?
    public var cid: String?
    /// The lead message when several were coalesced into one post.
    public var groupID: Int64?
    /// The record key the post is (or will be) written under.
    public var rkey: String?
    /// The prepared record or chat message, once prepared.
    public var request: String?
    public var sentUS: Int64?
    public var payload: String
    /// The account's consent and status now (for send-time checks).
    public var consent: Consent
    public var status: String

    public init(id: Int64, key: String, kind: String, did: String, handle: String?, state: String, attempts: Int, nextAtUS: Int64,
                createdUS: Int64, lastError: String?, uri: String?, cid: String?, groupID: Int64?, rkey: String?, request: String?,
                sentUS: Int64?, payload: String, consent: Consent, status: String) {
        self.id = id; self.key = key; self.kind = kind; self.did = did; self.handle = handle; self.state = state
        self.attempts = attempts; self.nextAtUS = nextAtUS; self.createdUS = createdUS; self.lastError = lastError
        self.uri = uri; self.cid = cid; self.groupID = groupID; self.rkey = rkey; self.request = request
        self.sentUS = sentUS; self.payload = payload; self.consent = consent; self.status = status
    }

    /// The states a message ends in.
    public static let finalStates: Set<String> = ["sent", "failed", "cancelled", "skipped"]
}

/// What the store knows of the bot's write budget: points spent in the sliding hour
/// and day, and the server's last `RateLimit-*` figures.
public struct WriteBudgetState: Sendable, Equatable {
    public var spentLastHour: Int
    public var spentLastDay: Int
    /// Time of the writes in the last hour and day, oldest first, with their points (for
    /// when enough of them age out).
    public var hourWrites: [(timeUS: Int64, points: Int)]
    public var dayWrites: [(timeUS: Int64, points: Int)]
    public var serverRemaining: Int?
    public var serverLimit: Int?
    /// Unix seconds.
    public var serverReset: Int64?

    /// The state from the last day's writes (oldest first) and the stored `ratelimit`
    /// text (`remaining,limit,reset`, see ``rateLimitText(remaining:limit:reset:)``).
    public init(nowUS: Int64, dayWrites day: [(timeUS: Int64, points: Int)], rateLimit text: String?) {
        let hour = day.filter { $0.timeUS > nowUS - 3_600_000_000 }
        self.init(spentLastHour: hour.reduce(0) { $0 + $1.points }, spentLastDay: day.reduce(0) { $0 + $1.points },
                  hourWrites: hour, dayWrites: day)
        let parts = text?.split(separator: ",", omittingEmptySubsequences: false).map { Int64($0) } ?? []
        if parts.count == 3 {
            // What was stored came from a server: validated again, so a value saved by an
            // older version cannot trap the dispatcher on every start.
            func count(_ value: Int64?) -> Int? { value.map { Int(min(max(0, $0), Int64(RateLimit.maxCount))) } }
            serverRemaining = count(parts[0])
            serverLimit = count(parts[1])
            let nowS = nowUS / 1_000_000
            serverReset = parts[2].map { min(max(0, $0), nowS + RateLimit.maxResetAhead) }
        }
    }

    /// The server's `RateLimit-*` figures as stored in `bot_state`.
    public static func rateLimitText(remaining: Int?, limit: Int?, reset: Int64?) -> String {
        "\(remaining.map(String.init) ?? ""),\(limit.map(String.init) ?? ""),\(reset.map(String.init) ?? "")"
    }

    public init(spentLastHour: Int, spentLastDay: Int, hourWrites: [(timeUS: Int64, points: Int)],
                dayWrites: [(timeUS: Int64, points: Int)], serverRemaining: Int? = nil, serverLimit: Int? = nil,
                serverReset: Int64? = nil) {
        self.spentLastHour = spentLastHour
        self.spentLastDay = spentLastDay
        self.hourWrites = hourWrites
        self.dayWrites = dayWrites
        self.serverRemaining = serverRemaining
        self.serverLimit = serverLimit
        self.serverReset = serverReset
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.spentLastHour == b.spentLastHour && a.spentLastDay == b.spentLastDay && a.serverRemaining == b.serverRemaining
            && a.serverReset == b.serverReset && a.serverLimit == b.serverLimit
    }
}
