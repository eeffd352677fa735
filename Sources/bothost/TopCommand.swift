import ArgumentParser
import BotHost
import BotHostConfig
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

    @Option(name: .long, help: "A season (e.g. 2026-12, 2026-Q4, or a name from the config), or 'current': its net XP; an ended season shows its archive.")
    var season: String?

    @Option(name: .long, help: "YAML config file (for --season: the season calendar).")
    var config: String?

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let store = try database.location().openReader()
        let ranked: [RankedAccount]
        if let season {
            guard window == nil else { throw CLIError("--season and --window are two different boards; give one") }
            let (board, note) = try SeasonBoard.read(season, store: store, config: config, asOf: asOf, limit: max(0, limit ?? 10))
            if format == .table { Swift.print(note) }
            Leaderboard.print(board, format: format, windowed: true)
            return
        }
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

/// A season's board: its archive once it has ended and been archived, else its net XP so
/// far (up to the newest committed event, or --as-of).
enum SeasonBoard {
    static func read(_ name: String, store: any StateReading, config: String?, asOf: String?, limit: Int) throws -> ([RankedAccount], String) {
        let configuration = try loadConfiguration(config)
        guard let calendar = configuration.seasons else {
            throw CLIError("no seasons are configured; add seasons: {period: monthly} to the config (--config)")
        }
        let cursor = try store.readCursor() ?? Clock.nowMicroseconds()
        var end = cursor
        if let asOf {
            guard let parsed = TimeArgument.parse(asOf) else { throw CLIError("--as-of \(asOf): expected unix microseconds or an ISO-8601 time") }
            end = parsed
        }
        let season: Season
        if name == "current" {
            guard let current = calendar.season(containing: end) else { throw CLIError("no season holds \(ISOTime.format(microseconds: end))") }
            season = current
        } else {
            guard let named = calendar.season(named: name) else {
                throw CLIError("no season \(name): expected 'current'\(calendarHint(calendar))")
            }
            season = named
        }
        let span = "\(ISOTime.format(microseconds: season.startUS).prefix(10)) to \(ISOTime.format(microseconds: season.endUS).prefix(10)) (exclusive)"
        let archive = try store.seasonArchive(season.name)
        if !archive.isEmpty && asOf == nil {
            return (Array(archive.prefix(limit)), "season \(season.name), \(span): ended, archived top \(archive.count)")
        }
        let to = min(season.endUS - 1, end)
        let board = to < season.startUS ? [] : try store.leaderboard(from: season.startUS - 1, to: to, limit: limit)
        let state = end < season.endUS ? "in progress, as of \(ISOTime.format(microseconds: to))"
            : asOf != nil ? "ended; its net XP as of \(ISOTime.format(microseconds: to))"
            : "ended; not archived (nobody gained XP in it, or the host has not passed its end and grace yet): its net XP"
        
        return (board, "season \(season.name), \(span): \(state)")
    }

    static func calendarHint(_ calendar: SeasonCalendar) -> String {
        switch calendar.period {
        case .monthly: return " or a month such as 2026-12"
        case .quarterly: return " or a quarter such as 2026-Q4"
        case .explicit(let seasons): return " or one of: " + seasons.map(\.name).joined(separator: ", ")
        }
    }
}

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
