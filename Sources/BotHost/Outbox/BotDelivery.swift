import XRPCClient

/// The bot's way out: its PDS session and the outbox dispatcher.
///
/// The library logs in (retrying while the server fails), checks the account is the one
/// the host expects, labels the profile as automated once, and builds the dispatcher;
/// where the credentials come from (environment, config file, a 0600 file) is the
/// caller's business, and the password never leaves the ``Secret``.
public struct BotDelivery: Sendable {
    public let client: XRPCClient
    public let botDID: String
    public let handle: String
    public let dispatcher: OutboxDispatcher

    /// Which account posts, and how to reach it.
    public struct Account: Sendable {
        public var pds: String
        public var identifier: String
        public var password: Secret
        /// The DID the host was configured with (nil: whatever the login says).
        public var expectedDID: String?
        /// Whether to add the `bot` self-label to the profile (once).
        public var declareAutomated: Bool

        public init(pds: String, identifier: String, password: Secret, expectedDID: String?, declareAutomated: Bool) {
            self.pds = pds
            self.identifier = identifier
            self.password = password
            self.expectedDID = expectedDID
            self.declareAutomated = declareAutomated
        }
    }

    /// Why the bot could not be set up, in a sentence without secrets.
    public struct SetUpError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Logs in (retrying transient failures for about five minutes), then builds the
    /// dispatcher over `store`.
    public static func connect(_ account: Account, store: any OutboxStore, progression: Progression,
                               options: OutboxDispatcher.Options, log: @escaping @Sendable (String) -> Void) async throws -> BotDelivery {
        let client: XRPCClient
        do {
            client = try XRPCClient(service: account.pds, credentials: Credentials(identifier: account.identifier, password: account.password))
        } catch {
            throw SetUpError(description: "\(error)")
        }
        // The PDS may be down or failing when the host starts: keep trying for a while.
        var session: Session?
        var delay: UInt64 = 1
        for attempt in 1...12 {
            do {
                session = try await client.login()
                break
            } catch {
                if !error.isTransient && error.status != 429 {
                    throw SetUpError(description: "login as \(account.identifier) at \(account.pds) failed: \(error)")
                }
                log("login attempt \(attempt) failed: \(error); retrying in \(delay) s")
                try await Task.sleep(for: .seconds(delay))
                delay = min(delay * 2, 30)
            }
        }
        guard let session else { throw SetUpError(description: "could not log in to \(account.pds): the server kept failing") }
        if let configured = account.expectedDID, configured != session.did {
            throw SetUpError(description: "bot.did is \(configured) but \(account.identifier) logged in as \(session.did); fix the config")
        }
        try store.setBotState("bot_did", session.did)
        if account.declareAutomated { await declareAutomated(client, store: store, log: log) }
        let dispatcher = OutboxDispatcher(store: store, client: client, botDID: session.did, progression: progression,
                                          options: options, log: log)
        return BotDelivery(client: client, botDID: session.did, handle: session.handle, dispatcher: dispatcher)
    }

    /// Adds the `bot` self-label to the bot's profile record (keeping every other field),
    /// once: Bluesky shows such accounts as automated. Retried a few times while the
    /// server fails; left for the next start if it keeps failing.
    static func declareAutomated(_ client: XRPCClient, store: any OutboxStore, log: @Sendable (String) -> Void) async {
        guard (try? store.botState("profile_automated")) == nil else { return }
        var lastError = ""
        for attempt in 0..<6 {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(500 << attempt)) }
            do {
                try await labelProfile(client)
                try store.setBotState("profile_automated", "1")
                log("profile labelled as automated (bot self-label)")
                return
            } catch let error as XRPCError where error.isTransient || error.isExpiredToken || error.status == 400 {
                // 400 too: a swapRecord race with another writer of the profile.
                lastError = error.description
            } catch {
                lastError = "\(error)"
                break
            }
        }
        log("could not label the profile as automated (will try at the next start): \(lastError)")
    }

    private static func labelProfile(_ client: XRPCClient) async throws {
        let did = try await client.accountDID()
        let current = try await client.getRecord(repo: did, collection: "app.bsky.actor.profile", rkey: "self", as: JSONAny.self)
        var profile: [String: JSONAny] = ["$type": .string("app.bsky.actor.profile")]
        if case .object(let fields)? = current?.value { profile = fields }
        var values: [JSONAny] = []
        if case .object(let labels)? = profile["labels"], case .array(let existing)? = labels["values"] { values = existing }
        if values.contains(where: { $0["val"]?.string == "bot" }) { return }
        values.append(.object(["val": .string("bot")]))
        profile["labels"] = .object(["$type": .string("com.atproto.label.defs#selfLabels"), "values": .array(values)])
        _ = try await client.putRecord(collection: "app.bsky.actor.profile", rkey: "self", record: JSONAny.object(profile),
                                       swapRecord: current?.cid)
    }
}
