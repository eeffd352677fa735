import ArgumentParser
import BotHost
import BotHostStores

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Leaderboards: all-time XP, or XP gained in a sliding window.",
        discussion: """
            --window hour|day|week|month ranks the net XP (grants minus revocations, re-grades by their
            delta) of events inside (as-of − window, as-of]; as-of defaults to the newest committed event.
            Only active, not excluded accounts with a positive score are ranked; ties go by DID.
            """)

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "hour, day, week or month (default: all-time XP).")
    var window: RankingWindow?

    @Option(name: .long, help: "How many accounts (default 10, or 1000 with --window).")
    var limit: Int?

    @Option(name: .long, help: "End of the window: unix microseconds or ISO-8601 (default: the newest committed event).")
    var asOf: String?

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let store = try database.location().openReader()
        let ranked: [RankedAccount]
        if let window {
            let end: Int64
            if let asOf {
                guard let parsed = TimeArgument.parse(asOf) else {
                    throw CLIError("--as-of \(asOf): expected unix microseconds or an ISO-8601 time such as 2026-05-25T14:00:00Z")
                }
                end = parsed
            } else {
                end = try store.readCursor() ?? Clock.nowMicroseconds()
            }
            ranked = try store.leaderboard(window: window, asOf: end, limit: max(0, limit ?? 1000))
        } else {
            ranked = try store.leaderboard(limit: max(0, limit ?? 10))
        }
        Leaderboard.print(ranked, format: format, windowed: window != nil)
    }
}

extension RankingWindow: ExpressibleByArgument {}

/// Times on the command line: unix microseconds, or ISO-8601 (a date alone means midnight UTC).
enum TimeArgument {
    static func parse(_ text: String) -> Int64? {
        if let value = Int64(text) { return value }
        var candidate = text.count == 10 ? text + "T00:00:00Z" : text
        return candidate.withUTF8 { ISOTime.parseMicroseconds(UnsafeRawBufferPointer($0)) }
    }
}

enum Leaderboard {
    static func print(_ accounts: [RankedAccount], format: OutputFormat, windowed: Bool = false) {
        switch format {
        case .json:
            let json = JSONWriter()
            json.array {
                for account in accounts {
                    json.object {
                        json.field("rank", account.rank)
                        json.field("did", account.did)
                        json.field("handle", account.handle)
                        json.field("display_name", account.displayName)
                        json.field("score", account.score)
                        json.field("xp", account.xp)
                        json.field("level", account.level)
                    }
                }
            }
            Swift.print(json.output)
        case .table:
            // The name column only when some row has one (a display name fetched by a host).
            let named = accounts.contains { $0.displayName != nil }
            var header = ["#", "account"] + (named ? ["name"] : [])
            header += windowed ? ["score", "level", "xp"] : ["level", "xp"]
            let numbers = windowed ? 3 : 2
            Swift.print(Format.table(header, accounts.map { account in
                var row = [String(account.rank), account.handle.map { "@" + $0 } ?? account.did]
                if named { row.append(account.displayName ?? "") }
                if windowed { row.append(Format.grouped(account.score)) }
                return row + [String(account.level), Format.grouped(account.xp)]
            }, rightAligned: Set([0] + (0..<numbers).map { header.count - numbers + $0 })))
            // Said once for the table, not per row.
            let unnamed = accounts.filter { $0.handle == nil }.count
            if unnamed > 0 {
                Swift.print("\n\(unnamed) of \(accounts.count) accounts show their DID: no handle is known (a replay learns handles only\n"
                            + "from the capture's identity events; `bothost names`, or `bothost run` with a bot account, fetches them).")
            }
        }
    }
}

/// `bothost rank-events`: who entered or left a watched top N, and when.
struct RankEventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rank-events",
        abstract: "Ranking changes (entered / left a top N of the watched window), newest first.")
    @OptionGroup var database: StoreOptions
    @Option(name: .long, help: "How many.") var limit: Int = 50
    @Option(name: .long, help: "table or json.") var format: OutputFormat = .table

    func run() throws {
        let events = try database.location().openReader().rankEvents(limit: max(0, limit))
        switch format {
        case .json:
            let json = JSONWriter()
            json.array {
                for event in events {
                    json.object {
                        json.field("time_us", Int(event.timeUS))
                        json.field("window", event.window)
                        json.field("threshold", event.threshold)
                        json.field("kind", event.kind)
                        json.field("rank", event.rank)
                        json.field("did", event.did)
                        json.field("handle", event.handle)
                    }
                }
            }
            print(json.output)
        case .table:
            print(Format.table(["time", "event", "rank", "account"], events.map {
                [ISOTime.format(microseconds: $0.timeUS), "\($0.kind) top \($0.threshold) of the \($0.window)",
                 $0.rank.map(String.init) ?? "-", $0.handle ?? $0.did]
            }))
        }
    }
}
