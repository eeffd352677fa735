import CoreMetrics
import XRPCClient

/// Posts what the outbox holds, exactly once, within the bot account's limits.
///
/// For each due message, in order:
/// 1. **Send-time checks**: a milestone of an account that is no longer opted in (or is
///    inactive) is cancelled; a message about an event older than `maxAge` is skipped
///    (a backfill never floods anyone); a confirmation over its rate limit is skipped.
/// 2. **Prepare once**: several pending milestones of one account are coalesced into
///    one post, rendered, and stored with a record key derived from the lead row (a TID
///    built from the row's event time and id), before anything is sent.
/// 3. **Budget**: the write is made only if the budget (local sliding windows, or the
///    server's `RateLimit-Remaining` while fresh) allows it with headroom; otherwise the
///    message waits for the window.
/// 4. **Send**: the attempt is counted in the store first. A message attempted before
///    (perhaps accepted by the server just before a crash or a lost response) is first
///    looked up with `getRecord` under its key: found means sent. A create refused
///    because the key exists is looked up the same way. So no post is ever made twice.
/// 5. **Record** the `uri`/`cid`, or schedule a retry with jittered exponential backoff,
///    or fail the message after `maxAttempts` with the last error.
public final class OutboxDispatcher: Sendable {
    public struct Options: Sendable {
        public enum Mode: String, Sendable { case reply, post, dm }
        public var mode: Mode = .reply
        public var maxAgeUS: Int64 = 86_400_000_000
        public var maxAttempts = 8
        public var coalesce = true
        public var budget = WriteBudget()
        public var confirmIntervalUS: Int64 = 3_600_000_000
        public var confirmationsPerHour = 60
        /// First retry delay; doubled per attempt with jitter, capped at `maxBackoffUS`.
        public var baseBackoffUS: Int64 = 2_000_000
        public var maxBackoffUS: Int64 = 300_000_000
        /// How often a lease on a message being sent is renewed (a third of PostgreSQL's 30 s lease).
        public var leaseRenewalUS: Int64 = 10_000_000
        public init() {}
    }

    /// What one pass did.
    public struct Pass: Sendable, Equatable {
        public var sent = 0
        public var failed = 0
        public var retried = 0
        public var cancelled = 0
        public var skipped = 0
        /// Messages left waiting for a budget window or a server reset.
        public var deferred = 0
        public var isIdle: Bool { sent + failed + retried + cancelled + skipped == 0 }
    }

    let store: any OutboxStore
    let client: XRPCClient
    let botDID: String
    let options: Options
    let renderer: AnnouncementRenderer
    let log: @Sendable (String) -> Void
    private let handles = LockedBox<[String: String]>([:])
    /// Totals since start, for the summary and metrics.
    public let totals = LockedBox(Pass())
    /// Whether this dispatcher has recovered the messages a stopped one left `sending`.
    private let recovered = LockedBox(false)
    /// Event→post latencies (µs) of sent announcements, in fixed memory.
    public let latenciesUS = LatencyRecorder()

    public init(store: any OutboxStore, client: XRPCClient, botDID: String, progression: Progression, options: Options,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.client = client
        self.botDID = botDID
        self.options = options
        self.renderer = AnnouncementRenderer(progression: progression)
        self.log = log
    }

    // MARK: - Loops

    /// Dispatches until `stop()` is true, sleeping briefly while nothing is due.
    public func run(pollMS: Int = 50, stop: @Sendable () -> Bool) async {
        while !stop() && !Task.isCancelled {
            let pass = await dispatchDue()
            if pass.isIdle { try? await Task.sleep(for: .milliseconds(pollMS)) }
        }
    }

    /// Dispatches until no message is pending: waits out backoff and rate-limit windows.
    public func drain() async {
        while !Task.isCancelled {
            let pass = await dispatchDue()
            guard pass.isIdle else { continue }
            guard let next = (try? store.nextDueUS()) ?? nil else { return }
            let wait = max(50_000, min(next - WallClock.nowUS(), 5_000_000))
            try? await Task.sleep(for: .microseconds(wait))
        }
    }

    /// One pass over the messages due now.
    @discardableResult
    public func dispatchDue() async -> Pass {
        var pass = Pass()
        let now = WallClock.nowUS()
        if !recovered.value {
            // Messages a dispatcher that died left `sending` (see OutboxStore.recoverSending).
            recovered.value = true
            if let count = try? store.recoverSending(nowUS: now), count > 0 { log("outbox: \(count) message(s) left sending by a stopped dispatcher are looked up again") }
        }
        let due: [OutboxMessage]
        do { due = try store.dueMessages(nowUS: now, limit: 200) } catch {
            log("outbox: cannot read the outbox: \(error)")
            return pass
        }
        var handled = Set<Int64>()
        for message in due where !handled.contains(message.id) {
            if Task.isCancelled { break }
            // Members of a group already prepared travel with their lead.
            if let group = message.groupID, group != message.id { continue }
            var group = [message]
            if message.kind == "milestone" && message.request == nil && options.coalesce {
                group += due.filter { $0.id != message.id && $0.kind == "milestone" && $0.did == message.did
                    && $0.request == nil && $0.groupID == nil && !handled.contains($0.id) }
            }
            for member in group { handled.insert(member.id) }
            do {
                try await deliver(group, &pass)
            } catch {
                log("outbox: message \(message.id): \(error)")
            }
        }
        totals.value = Self.add(totals.value, pass)
        return pass
    }

    static func add(_ a: Pass, _ b: Pass) -> Pass {
        Pass(sent: a.sent + b.sent, failed: a.failed + b.failed, retried: a.retried + b.retried,
             cancelled: a.cancelled + b.cancelled, skipped: a.skipped + b.skipped, deferred: a.deferred + b.deferred)
    }

    // MARK: - One delivery

    private func deliver(_ group: [OutboxMessage], _ pass: inout Pass) async throws {
        let lead = group[0]
        let now = WallClock.nowUS()
        let ids = group.map(\.id)
        // 1. Send-time checks (only before the first attempt: a message that may have
        //    landed is always resolved by looking it up).
        if lead.request?.isEmpty != false {
            if let reason = Self.noLongerAllowed(lead) {
                try store.finishOutbox(ids, state: "cancelled", reason: reason, nowUS: now)
                pass.cancelled += group.count
                return
            }
            let newest = group.map(\.createdUS).max() ?? lead.createdUS
            if options.maxAgeUS > 0 && newest < now - options.maxAgeUS {
                try store.finishOutbox(ids, state: "skipped", reason: "event older than the max age (\(options.maxAgeUS / 3_600_000_000) h): recorded, not posted", nowUS: now)
                pass.skipped += group.count
                return
            }
            if lead.kind == "confirm" {
                let sent = try store.confirmationsSent(accountDID: lead.did, accountSinceUS: now - options.confirmIntervalUS,
                                                       allSinceUS: now - 3_600_000_000)
                if sent.account > 0 || sent.all >= options.confirmationsPerHour {
                    try store.finishOutbox(ids, state: "skipped", reason: "confirmation rate limit", nowUS: now)
                    pass.skipped += group.count
                    return
                }
            }
        }
        // 2. Prepare once.
        let prepared: PreparedDelivery
        let rkey: String
        let preparedBefore = lead.request?.isEmpty == false
        if let request = lead.request, let stored = PreparedDelivery.decode(request), let key = lead.rkey {
            prepared = stored
            rkey = key
        } else {
            guard let built = await prepare(group, nowUS: now) else {
                try store.finishOutbox(ids, state: "skipped", reason: "nothing to send: unreadable payload, or a reply into another account's thread", nowUS: now)
                pass.skipped += group.count
                return
            }
            prepared = built
            rkey = try deterministicKey(for: lead)
            // Not prepared: another dispatcher took a member meanwhile; it is its to send.
            guard try store.prepareOutbox(lead: lead.id, members: ids, rkey: rkey, request: prepared.encoded(), nowUS: WallClock.nowUS()) else { return }
        }
        // 3. Budget.
        let points = prepared.via == "dm" ? 0 : WriteBudget.createPoints
        if points > 0, let until = options.budget.waitUntil(points: points, state: try store.writeBudget(nowUS: now), nowUS: now) {
            try store.deferOutbox([lead.id], untilUS: until)
            pass.deferred += group.count
            return
        }
        // 4. An earlier attempt may have landed: a post is looked up under its key first
        //    (then it was sent, whatever the account did since); a DM is never sent twice.
        if preparedBefore && lead.attempts > 0 {
            if prepared.via == "dm" {
                if lead.lastError?.hasPrefix("sure:") != true {
                    try store.finishOutbox([lead.id], state: "failed", reason: "an earlier attempt may have been delivered; not resent (chat has no idempotency key)", nowUS: now)
                    pass.failed += group.count
                    return
                }
            } else if let existing = try await lookUp(rkey) {
                try store.markSent(lead.id, uri: existing.uri, cid: existing.cid, nowUS: WallClock.nowUS())
                pass.sent += group.count
                return
            }
        }
        // 5. pending → sending, with consent, block, no-ping and status checked again in the
        //    same transaction: nothing is sent about an account that said no before this instant.
        let mentions = Self.announcementKinds.contains(lead.kind) && lead.kind != "confirm" ? prepared.mentions : nil
        let checks = SendChecks(announcement: Self.announcementKinds.contains(lead.kind), mentions: mentions)
        switch try store.beginAttempt(lead.id, points: points, nowUS: WallClock.nowUS(), checks: checks) {
        case .started: break
        case .notPending:
            return  // cancelled, sent or taken by another dispatcher meanwhile
        case .notAllowed(let reason):
            try store.finishOutbox(ids, state: "cancelled", reason: reason, nowUS: WallClock.nowUS())
            pass.cancelled += group.count
            return
        case .consentChanged:
            // Prepared with (or without) a mention that the account's setting no longer
            // matches: prepared again on the next pass, under the same key.
            try store.prepareOutbox(lead: lead.id, members: ids, rkey: rkey, request: "", nowUS: WallClock.nowUS())
            pass.deferred += group.count
            return
        }
        let attempts = lead.attempts + 1
        let lease = keepLease(lead.id)
        defer { lease.cancel() }
        do {
            let result: (uri: String, cid: String?)
            if prepared.via == "dm" {
                let convo = try await client.getConvoForMembers([prepared.recipient ?? lead.did])
                let message = try await client.sendMessage(convoID: convo.id, text: prepared.text ?? "", facets: prepared.facets)
                result = ("chat:\(convo.id)/\(message.id)", nil)
            } else {
                guard let post = prepared.post else { throw XRPCError.badResponse(status: 0, detail: "prepared post missing") }
                result = try await createOrFind(rkey: rkey, post: post)
            }
            let done = WallClock.nowUS()
            try store.markSent(lead.id, uri: result.uri, cid: result.cid, nowUS: done)
            try await saveRateLimit()
            pass.sent += group.count
            for message in group { latenciesUS.record(done - message.createdUS) }
        } catch {
            try? await saveRateLimit()
            try handleFailure(error, lead: lead, group: group, attempts: attempts, points: points, &pass)
        }
    }

    /// The kinds that are about an account and need its consent at the instant of sending.
    static let announcementKinds: Set<String> = ["milestone", "confirm", "rank", "season"]

    /// Renews the lease on a message while it is being sent (a slow send keeps it; a
    /// dispatcher that died lets it run out, and another takes over).
    private func keepLease(_ id: Int64) -> Task<Void, Never> {
        let store = self.store
        let every = options.leaseRenewalUS
        return Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .microseconds(every))
                if Task.isCancelled { return }
                guard (try? store.renewLease(id, nowUS: WallClock.nowUS())) == true else { return }
            }
        }
    }

    /// Why an announcement may no longer be posted (the account opted out or is not
    /// active), or nil.
    static func noLongerAllowed(_ message: OutboxMessage) -> String? {
        guard announcementKinds.contains(message.kind) else { return nil }
        if message.consent != .optedIn && message.consent != .noPing { return "account is \(message.consent.name)" }
        if message.status != "active" { return "account is \(message.status)" }
        return nil
    }

    /// Creates the post; when the server refuses it (perhaps because an earlier attempt
    /// landed under this key), looks the key up before giving up.
    private func createOrFind(rkey: String, post: PostRecord) async throws -> (uri: String, cid: String?) {
        let failure: XRPCError
        do {
            let ref = try await client.createRecord(collection: "app.bsky.feed.post", rkey: rkey, record: post)
            return (ref.uri, ref.cid)
        } catch {
            failure = error
        }
        if failure.isTransient { throw failure }
        if let existing = try await lookUp(rkey) { return (existing.uri, existing.cid) }
        throw failure
    }

    private func lookUp(_ rkey: String) async throws(XRPCError) -> StrongRef? {
        guard let record = try await client.getRecord(repo: botDID, collection: "app.bsky.feed.post", rkey: rkey, as: JSONAny.self) else {
            return nil
        }
        return StrongRef(uri: record.uri, cid: record.cid ?? "")
    }

    private func saveRateLimit() async throws {
        guard let limit = await client.lastRateLimit else { return }
        if limit.clamped {
            HostLimit.rateLimitHeader.counter.increment()
            log("outbox: \(HostLimit.rateLimitHeader.reason) (remaining \(limit.remaining.map(String.init) ?? "-"), reset \(limit.reset.map(String.init) ?? "-"))")
        }
        try store.saveServerRateLimit(remaining: limit.remaining, limit: limit.limit, reset: limit.reset)
    }

    private func handleFailure(_ error: any Error, lead: OutboxMessage, group: [OutboxMessage], attempts: Int, points: Int,
                               _ pass: inout Pass) throws {
        let now = WallClock.nowUS()
        guard let error = error as? XRPCError else {
            try store.markRetry(lead.id, error: "\(error)", nextAtUS: now + backoff(attempts), fail: attempts >= options.maxAttempts, nowUS: now)
            pass.retried += 1
            return
        }
        // Certainly not applied: give the points back.
        let notApplied: Bool
        switch error {
        case .server(let status, _, _, _): notApplied = status == 429 || (status >= 400 && status < 500)
        case .transport(let transport): notApplied = transport.kind == .connect
        case .notAuthenticated: notApplied = true
        case .badResponse: notApplied = false
        }
        if notApplied && points > 0 { try store.refundAttempt(lead.id) }
        let sure = notApplied ? "sure: " : ""
        if error.status == 429 {
            // A rate limit is not the message's fault: wait for the reset, no failure counted.
            let reset = error.rateLimit?.reset.map { ($0 + 1) * 1_000_000 } ?? now + 5_000_000
            try store.markRetry(lead.id, error: sure + error.description, nextAtUS: max(reset, now + 1_000_000), fail: false, nowUS: now)
            pass.deferred += group.count
            log("outbox: rate limited until \(reset / 1_000_000); message \(lead.id) waits")
            return
        }
        let permanent = !error.isTransient
        let fail = permanent || attempts >= options.maxAttempts
        try store.markRetry(lead.id, error: sure + error.description, nextAtUS: now + backoff(attempts), fail: fail, nowUS: now)
        if fail { pass.failed += group.count } else { pass.retried += group.count }
        log("outbox: message \(lead.id) attempt \(attempts): \(error)\(fail ? " (failed)" : "")")
    }

    func backoff(_ attempts: Int) -> Int64 {
        let cap = min(options.maxBackoffUS, options.baseBackoffUS << Int64(min(attempts - 1, 20)))
        return Int64.random(in: cap / 2...max(cap / 2, cap))
    }

    // MARK: - Preparation

    /// A TID record key derived from the lead row: its event time and its id as the
    /// clock id, moved forward a microsecond at a time past keys other rows hold.
    public func deterministicKey(for message: OutboxMessage) throws -> String {
        var micros = UInt64(max(1, message.createdUS))
        while true {
            let key = TID(microseconds: micros, clockID: UInt16(truncatingIfNeeded: message.id & 0x3FF)).description
            if try !store.outboxRKeyTaken(key, except: message.id) { return key }
            micros += 1
        }
    }

    private func prepare(_ group: [OutboxMessage], nowUS: Int64) async -> PreparedDelivery? {
        let payloads = group.compactMap { OutboxPayload.decode($0.payload) }
        guard payloads.count == group.count, let first = payloads.first else { return nil }
        let lead = group[0]
        let createdAt = WallClock.iso8601(us: nowUS)
        if lead.kind == "rank" || lead.kind == "season" {
            let mention = lead.consent == .optedIn
            var handle = lead.handle ?? first.handle
            if handle?.isEmpty != false { handle = await lookUpHandle(lead.did) }
            let text = lead.kind == "season"
                ? renderer.render(template: first.template ?? "{handle} finished season {season} at #{rank} with {xp} XP!",
                                  did: lead.did, handle: handle, mention: mention,
                                  values: ["season": first.season ?? "", "rank": String(first.rank ?? 0), "xp": String(first.xp ?? 0)])
                : renderer.render(template: first.template ?? "{handle} entered the top {n} of the {window}!",
                                  did: lead.did, handle: handle, mention: mention,
                                  values: ["n": String(first.n ?? 0), "rank": String(first.rank ?? 0), "window": first.window ?? ""])
            if options.mode == .dm {
                return PreparedDelivery(via: "dm", post: nil, recipient: lead.did, text: text.text, facets: text.facets, mentions: mention)
            }
            return PreparedDelivery(via: "post", post: PostRecord(text: text.text, facets: text.facets, createdAt: createdAt), mentions: mention)
        }
        if lead.kind != "milestone" {
            // A confirmation: a plain reply to the command post, never a mention.
            var builder = RichTextBuilder()
            builder.text(first.text ?? "")
            let text = builder.build()
            guard let reply = first.replyRef, ownThread(reply, of: lead.did), await parentIsLive(reply, of: lead.did) else { return nil }
            return PreparedDelivery(via: "post", post: PostRecord(text: text.text, facets: nil, reply: reply,
                                                                  createdAt: createdAt))
        }
        let mention = lead.consent == .optedIn
        var handle = lead.handle ?? first.handle
        if handle?.isEmpty != false { handle = await lookUpHandle(lead.did) }
        let levels = payloads.compactMap(\.level)
        let xp = payloads.compactMap(\.xp).max()
        let text = renderer.render(did: lead.did, handle: handle, levels: levels, xp: xp, mention: mention)
        switch options.mode {
        case .dm:
            return PreparedDelivery(via: "dm", post: nil, recipient: lead.did, text: text.text, facets: text.facets, mentions: mention)
        case .post, .reply:
            // The reply goes to the post that reached the highest milestone; `no ping`
            // accounts get a standalone post (a reply would notify them).
            // Only in the account's own thread: replying under someone else's root would
            // post into a conversation of an account that never opted in.
            var reply = options.mode == .reply && mention
                ? payloads.max { ($0.level ?? 0) < ($1.level ?? 0) }?.replyRef : nil
            if let ref = reply, !ownThread(ref, of: lead.did) { reply = nil }
            // The parent too: the account's or the bot's, and still there; else a top-level post.
            if let ref = reply, !(await parentIsLive(ref, of: lead.did)) { reply = nil }
            return PreparedDelivery(via: "post", post: PostRecord(text: text.text, facets: text.facets, reply: reply,
                                                                  createdAt: createdAt), mentions: mention)
        }
    }

    /// Whether a thread is the account's own or the bot's: the bot never posts into a
    /// conversation rooted at another account, which never opted in.
    func ownThread(_ reply: ReplyRef, of did: String) -> Bool {
        reply.root.uri.hasPrefix("at://\(did)/") || reply.root.uri.hasPrefix("at://\(botDID)/")
    }

    /// Whether the post a reply answers is the account's or the bot's and has not been
    /// deleted: the host's own view for the account's posts (whichever PDS keeps them),
    /// the bot's PDS for the bot's.
    func parentIsLive(_ reply: ReplyRef, of did: String) async -> Bool {
        let parts = reply.parent.uri.dropFirst("at://".count).split(separator: "/", omittingEmptySubsequences: false)
        guard reply.parent.uri.hasPrefix("at://"), parts.count == 3 else { return false }
        let (author, collection, rkey) = (String(parts[0]), String(parts[1]), String(parts[2]))
        if author == did {
            return (try? store.recordLive(did: did, collection: collection, rkey: rkey)) == .some(true)
        }
        guard author == botDID else { return false }
        return ((try? await client.getRecord(repo: botDID, collection: collection, rkey: rkey, as: JSONAny.self)) ?? nil) != nil
    }

    private func lookUpHandle(_ did: String) async -> String? {
        if let known = handles.value[did] { return known }
        guard let profile = try? await client.getProfile(did) else { return nil }
        handles.value[did] = profile.handle
        return profile.handle
    }
}
