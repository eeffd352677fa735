import BotHost
import HTTPTypes
import Hummingbird

/// `GET /v1/seasons` and `GET /v1/seasons/{name}` (docs/rankings.md, Seasons): the
/// calendar's current season, the archived ones, and one season's board (its archive once
/// it has ended and been archived, its net XP so far otherwise).
extension APIServer {
    func seasonsIndex() throws -> Response {
        guard let calendar = seasons else { return Self.error(.notFound, "NoSeasons", "this bot has no seasons configured") }
        let cursor = try store.readCursor() ?? Clock.nowMicroseconds()
        let archived = try store.archivedSeasons()
        let json = JSONWriter()
        json.object {
            if let current = calendar.season(containing: cursor) {
                json.key("current")
                json.object { Self.seasonFields(json, current) }
            }
            json.array("archived") {
                for season in archived {
                    json.object {
                        json.field("name", season.name)
                        json.field("start", ISOTime.format(microseconds: season.startUS))
                        json.field("end", ISOTime.format(microseconds: season.endUS))
                        json.field("archived_at", ISOTime.format(microseconds: season.archivedUS))
                        json.field("entries", season.entries)
                    }
                }
            }
        }
        return Self.json(.ok, json.output)
    }

    func season(_ name: String, _ request: Request) throws -> Response {
        guard let calendar = seasons else { return Self.error(.notFound, "NoSeasons", "this bot has no seasons configured") }
        let cursor = try store.readCursor() ?? Clock.nowMicroseconds()
        guard let season = name == "current" ? calendar.season(containing: cursor) : calendar.season(named: name) else {
            return Self.error(.notFound, "UnknownSeason", "no season \(name)")
        }
        let rawLimit = request.uri.queryParameters.get("limit")
        guard let limit = rawLimit.map({ Int($0) }) ?? 100, (1...1000).contains(limit) else {
            return Self.error(.badRequest, "InvalidLimit", "limit must be an integer between 1 and 1000")
        }
        let archive = try store.seasonArchive(season.name)
        let state: String
        let entries: [RankedAccount]
        if !archive.isEmpty {
            state = "archived"
            entries = Array(archive.prefix(limit))
        } else {
            state = cursor < season.endUS ? "in_progress" : "ended"
            let to = min(cursor, season.endUS - 1)
            entries = to < season.startUS ? [] : try store.leaderboard(from: season.startUS - 1, to: to, limit: limit)
        }
        let json = JSONWriter()
        json.object {
            Self.seasonFields(json, season)
            json.field("state", state)
            json.field("as_of", ISOTime.format(microseconds: min(cursor, season.endUS - 1)))
            json.array("entries") {
                for entry in entries {
                    json.object {
                        json.field("rank", entry.rank)
                        json.field("did", entry.did)
                        json.field("handle", entry.handle)
                        json.field("score", entry.score)
                        json.field("xp", entry.xp)
                        json.field("level", entry.level)
                    }
                }
            }
        }
        return Self.json(.ok, json.output)
    }

    /// `GET /seasons/{name}` (and `/seasons` for the current one): the season's page.
    func seasonPage(_ name: String, _ request: Request) throws -> Response {
        guard let calendar = seasons else { return Self.html(WebPages.page(title: "No seasons", body: "<h1>This bot has no seasons</h1>").html, status: .notFound) }
        let cursor = try store.readCursor() ?? Clock.nowMicroseconds()
        guard let season = name == "current" ? calendar.season(containing: cursor) : calendar.season(named: name) else {
            return Self.html(WebPages.page(title: "No such season", body: "<p><a href=\"/\">← leaderboards</a></p><h1>No season \(WebPages.escape(name))</h1>").html,
                             status: .notFound)
        }
        let archive = try store.seasonArchive(season.name)
        let entries: [RankedAccount]
        let state: String
        if !archive.isEmpty {
            entries = archive
            state = "ended: the archived top \(archive.count)"
        } else {
            let to = min(cursor, season.endUS - 1)
            entries = to < season.startUS ? [] : try store.leaderboard(from: season.startUS - 1, to: to, limit: calendar.archiveTop)
            state = cursor < season.endUS ? "in progress, as of \(ISOTime.format(microseconds: to))" : "ended, not archived yet"
        }
        return Self.page(WebPages.season(season, state: state, entries: entries, archived: try store.archivedSeasons()), request)
    }

    private static func seasonFields(_ json: JSONWriter, _ season: Season) {
        json.field("name", season.name)
        json.field("start", ISOTime.format(microseconds: season.startUS))
        json.field("end", ISOTime.format(microseconds: season.endUS))
    }
}
