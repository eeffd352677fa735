import ArgumentParser
import BotHost
import BotHostConfig
import BotHostStores
import BotHostSQLite
import Plugins
import XRPCClient

/// `bothost outbox list|retry|cancel`: what the bot has queued, posted, or given up on.
struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "List, retry or cancel queued announcements and replies.",
        subcommands: [List.self, Retry.self, Cancel.self, Dispatch.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every message with its state (pending, sent, failed, cancelled, skipped).",
            discussion: "--format json prints one JSON object per line (JSON Lines), one per message.")

        @OptionGroup var database: StoreOptions
        @Option(name: .long, help: "Only messages in this state (repeatable).") var state: [String] = []
        @Option(name: .long, help: "Only messages about this DID or handle.") var did: String?
        @Option(name: .long, help: "At most this many messages.") var limit: Int?
        @Option(name: .long, help: "table or json.") var format: OutputFormat = .table

        func run() throws {
            let store = try database.location().openReader()
            let messages = try store.outboxMessages(states: state, did: did, limit: limit)
            switch format {
            case .json:
                for message in messages { print(Self.json(message)) }
            case .table:
                let rows = messages.map { m -> [String] in
                    [String(m.id), m.kind, m.handle ?? m.did, m.state, String(m.attempts), m.uri ?? "", m.lastError ?? ""]
                }
                print(Format.table(["id", "kind", "account", "state", "attempts", "uri", "last error"], rows, rightAligned: [0, 4]))
                let counts = Dictionary(grouping: messages, by: \.state).mapValues(\.count)
                print(counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
            }
        }

        static func json(_ m: OutboxMessage) -> String {
            let json = JSONWriter()
            json.object {
                json.field("id", Int(m.id))
                json.field("key", m.key)
                json.field("kind", m.kind)
                json.field("did", m.did)
                json.field("handle", m.handle)
                if m.kind == "milestone", let level = OutboxPreview.levelOf(m.key) { json.field("level", level) }
                json.field("state", m.state)
                json.field("attempts", m.attempts)
                json.field("created_us", Int(m.createdUS))
                json.field("next_at_us", Int(m.nextAtUS))
                json.field("sent_us", m.sentUS.map { Int($0) })
                json.field("rkey", m.rkey)
                json.field("uri", m.uri)
                json.field("cid", m.cid)
                json.field("group_id", m.groupID.map { Int($0) })
                json.field("last_error", m.lastError)
                json.field("consent", m.consent.name)
            }
            return json.output
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put failed (or cancelled/skipped) messages back in the queue.",
            discussion: "A message that may have been posted is looked up under its record key first: a retry never posts twice.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "Message ids.") var ids: [Int64] = []
        @Flag(name: .long, help: "Every failed message.") var allFailed = false
        @Option(name: .long, help: "Who is asking (recorded in the audit log).") var actor: String?

        func run() throws {
            guard allFailed || !ids.isEmpty else { throw ValidationError("give message ids or --all-failed") }
            let store = try database.location().open()
            let count = try store.retryOutbox(ids: ids, allFailed: allFailed, actor: actor ?? environment("USER") ?? "moderator", nowUS: WallClock.nowUS())
            print("\(count) message\(count == 1 ? "" : "s") queued again")
        }
    }

    struct Dispatch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Post everything pending now, then exit (e.g. after `retry`, with no host running).",
            discussion: "Uses the bot account of the config file or of BOTHOST_PDS, BOTHOST_IDENTIFIER and BOTHOST_APP_PASSWORD.")
        @OptionGroup var database: StoreOptions
        @Option(name: .long, help: "YAML config file.") var config: String?
        @Option(name: .long, help: "table or json.") var format: OutputFormat = .table

        func run() async throws {
            var configuration = try loadConfiguration(config)
            let location = database.location(configURL: configuration.store.url)
            let store = try location.open()
            // A SQLite file's outbox has one dispatcher: its host's. On PostgreSQL this
            // dispatcher claims messages with a lease, beside the hosts' own.
            var lock: HostLock?
            if case let .sqlite(path) = location {
                lock = HostLock(databasePath: path)
                guard lock != nil else { throw CLIError("\(path) is in use by a running bothost host, which dispatches its outbox itself") }
            }
            defer { withExtendedLifetime(lock) {} }
            guard let delivery = try await BotDeliverySetUp.setUp(&configuration, store: store, log: { printError($0) }) else {
                throw CLIError("no bot account: set BOTHOST_PDS, BOTHOST_IDENTIFIER and BOTHOST_APP_PASSWORD (or the config's bot section)")
            }
            let start = Clock.monotonicSeconds()
            await delivery.dispatcher.drain()
            let seconds = Clock.monotonicSeconds() - start
            let totals = delivery.dispatcher.totals.value
            switch format {
            case .json:
                let json = JSONWriter()
                json.object {
                    json.field("sent", totals.sent)
                    json.field("failed", totals.failed)
                    json.field("cancelled", totals.cancelled)
                    json.field("skipped", totals.skipped)
                    json.field("seconds", seconds)
                    json.field("posts_per_second", seconds > 0 ? Double(totals.sent) / seconds : 0)
                }
                print(json.output)
            case .table:
                print("\(totals.sent) sent, \(totals.failed) failed, \(totals.cancelled) cancelled, \(totals.skipped) skipped in \(Format.fixed(seconds, 2)) s")
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel pending messages.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "Message ids.") var ids: [Int64]
        @Option(name: .long, help: "Why (recorded with the message and in the audit log).") var reason: String = "cancelled by a moderator"
        @Option(name: .long, help: "Who is asking (recorded in the audit log).") var actor: String?

        func run() throws {
            let store = try database.location().open()
            let count = try store.cancelOutbox(ids: ids, actor: actor ?? environment("USER") ?? "moderator", reason: reason, nowUS: WallClock.nowUS())
            print("\(count) message\(count == 1 ? "" : "s") cancelled")
        }
    }
}
