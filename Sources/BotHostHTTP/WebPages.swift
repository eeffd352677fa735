import BotHost
import Foundation
import Rules

/// The server-rendered pages: the four leaderboards at `/` (with each account's movement
/// since the previous window and a search box), and an account page (its rank in each
/// window, progress to the next level, an XP-over-time chart in inline SVG, and its recent
/// grants linked to the records that earned them).
///
/// Nothing is loaded from elsewhere (the host may have no internet): no external scripts,
/// fonts or styles. The one script is inline and optional: it polls the page with its ETag
/// and reloads when the page changed.
enum WebPages {
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// Seconds between the polls of an open page.
    static let pollSeconds = 15

    /// A whole page and its ETag. The ETag is a hash of the page as rendered without it,
    /// so it changes exactly when something on the page does; the page carries it for its
    /// poll (`If-None-Match`: a 304 costs the server a render, the browser nothing).
    static func page(title: String, body: String) -> (html: String, etag: String) {
        let html = """
        <!doctype html>
        <html lang="en" data-etag=""><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2433;background:#f7f8fb}
        h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:0 0 8px}
        header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:12px;margin-bottom:16px}
        form.search input{font:inherit;padding:4px 8px;border:1px solid #c5ccda;border-radius:6px;width:16em}
        form.search button{font:inherit;padding:4px 10px;border:1px solid #2d5bd1;background:#2d5bd1;color:#fff;border-radius:6px}
        .boards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
        .card{background:#fff;border:1px solid #dde2ec;border-radius:8px;padding:12px;overflow-x:auto}
        a.name{display:inline-block;max-width:12em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom}
        svg{max-width:100%;height:auto}
        table{border-collapse:collapse;width:100%;font-size:13px}
        th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #eef1f6} td.n,th.n{text-align:right}
        a{color:#2d5bd1;text-decoration:none} .muted{color:#6b7385;font-size:12px}
        .up{color:#1a7f37} .down{color:#c0392b} .new{color:#8250df;font-size:11px;font-weight:600} .same{color:#9aa3b5}
        .bar{height:10px;background:#eef1f6;border-radius:5px;overflow:hidden;margin:6px 0 2px} .bar>span{display:block;height:100%;background:#e4572e}
        .ranks{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0} .ranks div{background:#fff;border:1px solid #dde2ec;border-radius:8px;padding:6px 12px}
        .ranks b{font-size:18px}
        </style></head><body>\(body)
        <script>(function(){var tag=document.documentElement.dataset.etag;if(!tag||!window.fetch)return;
        setInterval(function(){fetch(location.href,{cache:"no-store",headers:{"If-None-Match":tag}})
        .then(function(r){if(r.status===200)location.reload();}).catch(function(){});},\(pollSeconds * 1000));})();</script>
        </body></html>
        """
        let etag = "\"p" + String(FNV1a.hash(html.utf8), radix: 16) + "\""
        return (html.replacingFirst("data-etag=\"\"", with: "data-etag=\"\(escape(etag))\""), etag)
    }

    /// Where an account's rank moved since the window before (the same length, ending
    /// where this one starts).
    enum Movement: Equatable {
        case up(Int), down(Int), same, new

        init(now: Int, before: Int?) {
            guard let before else { self = .new; return }
            self = before > now ? .up(before - now) : before < now ? .down(now - before) : .same
        }

        var html: String {
            switch self {
            case let .up(n): "<span class=\"up\" title=\"up \(n) since the window before\">▲\(n)</span>"
            case let .down(n): "<span class=\"down\" title=\"down \(n) since the window before\">▼\(n)</span>"
            case .same: "<span class=\"same\" title=\"same rank as the window before\">–</span>"
            case .new: "<span class=\"new\" title=\"not in the top 1,000 of the window before\">new</span>"
            }
        }
    }

    /// One window's board for the page: its rows and, per row, where it moved.
    struct Board {
        var window: RankingWindow
        var entries: [RankedAccount]
        var movement: [Movement]
    }

    static let searchForm = """
        <form class="search" action="/search" method="get" role="search"><input type="search" name="q" \
        placeholder="handle or DID" aria-label="handle or DID" required> <button type="submit">Find</button></form>
        """

    static func leaderboards(_ boards: [Board], asOf: Int64) -> (html: String, etag: String) {
        var body = "<header><div><h1>BotHost leaderboards</h1><p class=\"muted\">as of \(ISOTime.format(microseconds: asOf))</p></div>"
        body += searchForm + "</header><div class=\"boards\">"
        for board in boards {
            body += "<section class=\"card\" id=\"board-\(board.window.rawValue)\"><h2>Last \(board.window.rawValue)</h2><table><thead><tr>"
            body += "<th class=\"n\">#</th><th class=\"n\" title=\"since the window before\">±</th><th>account</th><th class=\"n\" title=\"XP gained in the window\">XP</th><th class=\"n\">level</th></tr></thead><tbody>"
            if board.entries.isEmpty { body += "<tr><td colspan=\"5\" class=\"muted\">nobody yet</td></tr>" }
            for (entry, movement) in zip(board.entries, board.movement) {
                body += "<tr data-did=\"\(escape(entry.did))\"><td class=\"n\">\(entry.rank)</td><td class=\"n move\">\(movement.html)</td>"
                body += "<td>\(nameCell(did: entry.did, handle: entry.handle, displayName: entry.displayName))</td>"
                body += "<td class=\"n score\">\(grouped(entry.score))</td><td class=\"n\">\(entry.level)</td></tr>"
            }
            body += "</tbody></table></section>"
        }
        return page(title: "BotHost leaderboards", body: body + "</div>")
    }

    static func notFound(_ query: String) -> (html: String, etag: String) {
        page(title: "Not found", body: "<p><a href=\"/\">← leaderboards</a></p><h1>No account \(escape(query))</h1>"
             + "<p class=\"muted\">Search by handle (with or without @) or by DID.</p>" + searchForm)
    }

    /// An account's link: its display name with the handle beside it when both are known,
    /// else the handle, else the DID.
    static func nameCell(did: String, handle: String?, displayName: String?) -> String {
        let link = "/accounts/\(escape(did))"
        let primary = displayName ?? handle.map { "@" + $0 } ?? did
        var cell = "<a class=\"name\" href=\"\(link)\">\(escape(primary))</a>"
        if displayName != nil, let handle { cell += " <span class=\"muted handle\">@\(escape(handle))</span>" }
        return cell
    }

    static func account(_ account: AccountRecord, curve: LevelCurve, series: [(timeUS: Int64, xp: Int64)],
                        counts: [(String, Int64)], ledger: [LedgerRecord],
                        ranks: [(RankingWindow, Int?)],
                        season: (name: String, score: Int64, rank: Int?)? = nil) -> (html: String, etag: String) {
        let floor = curve.xpToReach(level: account.level)
        let next = curve.xpToReach(level: account.level + 1)
        let fraction = next > floor ? min(1, max(0, Double(account.xp - floor) / Double(next - floor))) : 1
        var body = "<header><p><a href=\"/\">← leaderboards</a></p>\(searchForm)</header>"
        if let displayName = account.displayName {
            body += "<h1>\(escape(displayName))</h1><p class=\"muted\">\(escape(account.handle.map { "@" + $0 } ?? ""))</p>"
        } else {
            body += "<h1>\(escape(account.handle.map { "@" + $0 } ?? account.did))</h1>"
        }
        body += "<p class=\"muted\">\(escape(account.did)) · status \(escape(account.status))</p>"
        body += "<div class=\"ranks\">"
        for (window, rank) in ranks {
            let shown = rank.map { "#\($0)" } ?? "–"
            body += "<div id=\"rank-\(window.rawValue)\" data-rank=\"\(rank.map(String.init) ?? "")\"><span class=\"muted\">last \(window.rawValue)</span><br><b>\(shown)</b></div>"
        }
        if let season {
            let shown = season.rank.map { "#\($0)" } ?? "–"
            body += "<div id=\"rank-season\" data-rank=\"\(season.rank.map(String.init) ?? "")\" data-xp=\"\(season.score)\">"
            body += "<span class=\"muted\"><a href=\"/seasons/\(escape(season.name))\">season \(escape(season.name))</a></span><br><b>\(shown)</b> "
            body += "<span class=\"muted\">\(grouped(season.score)) XP</span></div>"
        }
        body += "</div>"
        body += "<section class=\"card\"><h2>Level <span id=\"level\">\(account.level)</span> · <span id=\"xp\">\(grouped(account.xp))</span> XP</h2>"
        body += "<div class=\"bar\" id=\"progress\" data-percent=\"\(Int((fraction * 100).rounded(.down)))\" role=\"progressbar\" "
        body += "aria-valuemin=\"0\" aria-valuemax=\"100\" aria-valuenow=\"\(Int((fraction * 100).rounded(.down)))\">"
        body += "<span style=\"width:\(String(format: "%.1f", fraction * 100))%\"></span></div>"
        body += "<p class=\"muted\" id=\"to-next\">\(grouped(max(0, next - account.xp))) XP to level \(account.level + 1) "
        body += "(\(Int((fraction * 100).rounded(.down)))% of the way from level \(account.level))</p>"
        body += chart(series) + "</section><div class=\"boards\" style=\"margin-top:16px\">"
        body += "<section class=\"card\"><h2>Activity</h2><table><thead><tr><th>event</th><th class=\"n\">count</th></tr></thead><tbody>"
        for (name, value) in counts { body += "<tr><td>\(escape(name))</td><td class=\"n\">\(grouped(value))</td></tr>" }
        body += "</tbody></table></section><section class=\"card\"><h2>Recent XP</h2><table id=\"recent\"><thead><tr><th>time</th><th class=\"n\">XP</th><th>rule</th><th>for</th></tr></thead><tbody>"
        for entry in ledger.prefix(20) {
            body += "<tr><td>\(ISOTime.format(microseconds: entry.timeUS).prefix(19))</td><td class=\"n\">\(entry.amount > 0 ? "+" : "")\(entry.amount)</td>"
            body += "<td>\(escape(entry.plugin))/\(escape(entry.rule))</td><td>\(recordLink(entry.uri))</td></tr>"
        }
        body += "</tbody></table></section></div>"
        return page(title: account.displayName ?? account.handle ?? account.did, body: body)
    }

    /// The record a grant was for, as a link people can open: a post on bsky.app, any other
    /// record in an AT Protocol browser; its `at://` URI in the title either way.
    static func recordLink(_ uri: String) -> String {
        let parts = uri.hasPrefix("at://") ? uri.dropFirst(5).split(separator: "/", omittingEmptySubsequences: false) : []
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && !$0.contains("?") && !$0.contains("#") }) else {
            return "<span class=\"muted\">\(escape(uri))</span>"
        }
        let (did, collection, rkey) = (String(parts[0]), String(parts[1]), String(parts[2]))
        let kind = collection.split(separator: ".").last.map(String.init) ?? collection
        let href = collection == "app.bsky.feed.post"
            ? "https://bsky.app/profile/\(did)/post/\(rkey)"
            : "https://pdsls.dev/\(uri)"
        return "<a class=\"record\" href=\"\(escape(href))\" title=\"\(escape(uri))\" data-uri=\"\(escape(uri))\">\(escape(kind))</a>"
    }

    /// Cumulative XP over time as a polyline, at most ~300 points, on axes that fit any
    /// value: the y axis runs to a round maximum with compact labels (`1.5K`, `2M`, `9.2E`),
    /// and the left margin is as wide as its longest label.
    static func chart(_ points: [(timeUS: Int64, xp: Int64)], width: Int = 720, height: Int = 240) -> String {
        guard let first = points.first, let last = points.last else {
            return "<p class=\"muted\">no XP yet</p>"
        }
        let step = max(1, points.count / 300)
        var sampled = stride(from: 0, to: points.count, by: step).map { points[$0] }
        if sampled.last?.timeUS != last.timeUS { sampled.append(last) }
        let top = niceMaximum(Double(sampled.map(\.xp).max() ?? 1))
        let ticks = (0...4).map { top * Double($0) / 4 }
        let labels = ticks.map(compact)
        let left = 10.0 + 7.0 * Double(labels.map(\.count).max() ?? 1)
        let (right, above, below) = (12.0, 12.0, 28.0)
        let t0 = Double(first.timeUS), t1 = Double(max(last.timeUS, first.timeUS + 1))
        let w = Double(width) - left - right, h = Double(height) - above - below
        func y(_ value: Double) -> Int { Int((above + h - value / top * h).rounded()) }
        let coordinates = sampled.map { point -> String in
            let x = left + (Double(point.timeUS) - t0) / (t1 - t0) * w
            return "\(Int(x.rounded())),\(y(Double(point.xp)))"
        }.joined(separator: " ")
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" role="img" aria-label="XP over time" id="chart" data-max="\(labels.last ?? "")">
        <rect x="0" y="0" width="\(width)" height="\(height)" fill="#ffffff"/>
        """
        for (tick, label) in zip(ticks, labels) {
            svg += "<line x1=\"\(Int(left))\" y1=\"\(y(tick))\" x2=\"\(Int(left + w))\" y2=\"\(y(tick))\" stroke=\"\(tick == 0 ? "#9aa3b5" : "#eef1f6")\"/>"
            svg += "<text class=\"ylabel\" x=\"\(Int(left) - 6)\" y=\"\(y(tick) + 4)\" font-size=\"11\" fill=\"#6b7385\" text-anchor=\"end\">\(label)</text>"
        }
        svg += "<line x1=\"\(Int(left))\" y1=\"\(Int(above))\" x2=\"\(Int(left))\" y2=\"\(Int(above + h))\" stroke=\"#9aa3b5\"/>"
        let firstDay = escape(String(ISOTime.format(microseconds: first.timeUS).prefix(10)))
        let lastDay = escape(String(ISOTime.format(microseconds: last.timeUS).prefix(10)))
        svg += "<text x=\"\(Int(left))\" y=\"\(height - 8)\" font-size=\"11\" fill=\"#6b7385\">\(firstDay)</text>"
        if lastDay != firstDay {
            svg += "<text x=\"\(Int(left + w))\" y=\"\(height - 8)\" font-size=\"11\" fill=\"#6b7385\" text-anchor=\"end\">\(lastDay)</text>"
        }
        svg += "<polyline fill=\"none\" stroke=\"#e4572e\" stroke-width=\"3\" points=\"\(coordinates)\"/></svg>"
        return svg
    }

    /// The smallest of 1, 2, 4, 8 × 10ⁿ at or above `value` (at least 4): its quarters are
    /// round numbers too.
    static func niceMaximum(_ value: Double) -> Double {
        guard value > 4 else { return 4 }
        let magnitude = pow10(floor(log10(value)))
        for factor in [1.0, 2.0, 4.0, 8.0, 10.0] where factor * magnitude >= value { return factor * magnitude }
        return 10 * magnitude
    }

    /// A number in at most five characters: `950`, `1.5K`, `25K`, `2M`, `9.2E`.
    static func compact(_ value: Double) -> String {
        let units: [(Double, String)] = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]
        for (scale, suffix) in units where value >= scale {
            let scaled = value / scale
            let text = scaled >= 10 || scaled == scaled.rounded() ? String(Int(scaled.rounded())) : String(format: "%.1f", scaled)
            return text + suffix
        }
        return String(Int(value.rounded()))
    }

    /// `1,234,567`: the page's numbers are read, not parsed.
    static func grouped(_ value: Int64) -> String { NumberText.grouped(value) }

    private static func pow10(_ exponent: Double) -> Double {
        var result = 1.0
        if exponent >= 0 { for _ in 0..<Int(exponent) { result *= 10 } } else { for _ in 0..<Int(-exponent) { result /= 10 } }
        return result
    }
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

extension WebPages {
    /// A season's page: its archived top N once it has ended, its board so far otherwise;
    /// with links to every archived season (the hall of fame).
    static func season(_ season: Season, state: String, entries: [RankedAccount], archived: [ArchivedSeason]) -> (html: String, etag: String) {
        func day(_ us: Int64) -> String { String(ISOTime.format(microseconds: us).prefix(10)) }
        var body = "<p><a href=\"/\">← leaderboards</a></p><header><div><h1>Season \(escape(season.name))</h1>"
        body += "<p class=\"muted\">\(day(season.startUS)) to \(day(season.endUS)) (exclusive) · \(escape(state))</p></div></header>"
        body += "<section class=\"card\" id=\"season\"><table><thead><tr><th class=\"n\">#</th><th>account</th>"
        body += "<th class=\"n\" title=\"XP gained in the season\">season XP</th><th class=\"n\">level</th></tr></thead><tbody>"
        if entries.isEmpty { body += "<tr><td colspan=\"4\" class=\"muted\">nobody gained XP in this season</td></tr>" }
        for entry in entries {
            body += "<tr data-did=\"\(escape(entry.did))\"><td class=\"n\">\(entry.rank)</td>"
            body += "<td>\(nameCell(did: entry.did, handle: entry.handle, displayName: entry.displayName))</td>"
            body += "<td class=\"n score\">\(grouped(entry.score))</td><td class=\"n\">\(entry.level)</td></tr>"
        }
        body += "</tbody></table></section>"
        if !archived.isEmpty {
            body += "<section class=\"card\" id=\"hall\"><h2>Past seasons</h2><ul>"
            for past in archived {
                body += "<li><a href=\"/seasons/\(escape(past.name))\">\(escape(past.name))</a> <span class=\"muted\">\(day(past.startUS)) to \(day(past.endUS)), top \(past.entries)</span></li>"
            }
            body += "</ul></section>"
        }
        return page(title: "Season \(season.name)", body: body)
    }
}
