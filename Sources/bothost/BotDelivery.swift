import BotHost
import BotHostConfig
import Foundation
import Plugins
import XRPCClient

/// The bot's way out: its PDS session and the outbox dispatcher, set up from the config
/// file and the environment (`BOTHOST_PDS`, `BOTHOST_IDENTIFIER`, `BOTHOST_APP_PASSWORD`).
struct BotDelivery {
    let client: XRPCClient
    let botDID: String
    let dispatcher: OutboxDispatcher

    /// Logs in (retrying while the server fails) and names the bot in the configuration,
    /// so consent commands are read for its DID. `nil` when no credentials are set: then
    /// nothing is posted and the outbox keeps everything.
    static func setUp(_ configuration: inout BotHostConfiguration, store: any OutboxStore,
                      log: @escaping @Sendable (String) -> Void) async throws -> BotDelivery? {
        let environment = ProcessInfo.processInfo.environment
        let pds = environment["BOTHOST_PDS"].flatMap { $0.isEmpty ? nil : $0 } ?? configuration.bot.pds
        let identifier = environment["BOTHOST_IDENTIFIER"].flatMap { $0.isEmpty ? nil : $0 } ?? configuration.bot.identifier
        guard let pds, let identifier else {
            log("no bot account configured (BOTHOST_PDS/BOTHOST_IDENTIFIER or bot.pds/bot.identifier): nothing is posted; announcements stay in the outbox")
            return nil
        }
        let password = try loadPassword(configuration.bot.appPasswordFile)
        let client: XRPCClient
        do {
            client = try XRPCClient(service: pds, credentials: Credentials(identifier: identifier, password: password))
        } catch {
            throw CLIError("\(error)")
        }
        // The PDS may be down or failing when the host starts: keep trying for a while.
        var session: Session?
        var delay: UInt64 = 1
        for attempt in 1...12 {
            do {
                session = try await client.login()
                break
            } catch {
                if !error.isTransient && error.status != 429 { throw CLIError("login as \(identifier) at \(pds) failed: \(error)") }
                log("login attempt \(attempt) failed: \(error); retrying in \(delay) s")
                try await Task.sleep(for: .seconds(delay))
                delay = min(delay * 2, 30)
            }
        }
        guard let session else { throw CLIError("could not log in to \(pds): the server kept failing") }
        if let configured = configuration.bot.did, configured != session.did {
            throw CLIError("bot.did is \(configured) but \(identifier) logged in as \(session.did); fix the config")
        }
        configuration.bot.did = session.did
        if configuration.bot.handle == nil { configuration.bot.handle = session.handle }
        try store.setBotState("bot_did", session.did)
        if configuration.bot.declareAutomated { await declareAutomated(client, store: store, log: log) }
        let dispatcher = OutboxDispatcher(store: store, client: client, botDID: session.did,
                                          progression: configuration.leveling.progression,
                                          options: dispatcherOptions(configuration), log: log)
        return BotDelivery(client: client, botDID: session.did, dispatcher: dispatcher)
    }

    static func dispatcherOptions(_ configuration: BotHostConfiguration) -> OutboxDispatcher.Options {
        var options = OutboxDispatcher.Options()
        options.mode = OutboxDispatcher.Options.Mode(rawValue: configuration.outbox.mode.rawValue) ?? .reply
        options.maxAgeUS = configuration.outbox.maxAgeSeconds * 1_000_000
        options.maxAttempts = configuration.outbox.maxAttempts
        options.coalesce = configuration.outbox.coalesce
        options.budget = WriteBudget(hourlyPoints: configuration.outbox.hourlyPoints, dailyPoints: configuration.outbox.dailyPoints,
                                     headroomPercent: configuration.outbox.headroomPercent)
        options.confirmIntervalUS = Int64(configuration.consent.confirmIntervalMinutes) * 60_000_000
        options.confirmationsPerHour = configuration.consent.confirmationsPerHour
        return options
    }

    /// The app password: `BOTHOST_APP_PASSWORD`, or a file only its owner can read.
    static func loadPassword(_ file: String?) throws -> Secret {
        if let value = ProcessInfo.processInfo.environment["BOTHOST_APP_PASSWORD"], !value.isEmpty { return Secret(value) }
        guard let file else {
            throw CLIError("no app password: set BOTHOST_APP_PASSWORD or bot.app_password_file (a mode 0600 file)")
        }
        return Secret(try readOwnerOnlyFile(file, what: "app password file"))
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
