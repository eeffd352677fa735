import BotHost
import Rules

/// The server-rendered pages: the four leaderboards at `/`, and an account page with an
/// XP-over-time chart drawn as inline SVG. No scripts, no external fonts or styles.
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

    static func page(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2433;background:#f7f8fb}
        h1{font-size:22px;margin:0 0 16px} h2{font-size:16px;margin:0 0 8px}
        .boards{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}
        .card{background:#fff;border:1px solid #dde2ec;border-radius:8px;padding:12px}
        table{border-collapse:collapse;width:100%;font-size:13px}
        th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #eef1f6} td.n,th.n{text-align:right}
        a{color:#2d5bd1;text-decoration:none} .muted{color:#6b7385;font-size:12px}
        </style></head><body>\(body)</body></html>
        """
    }

    static func leaderboards(_ boards: [(RankingWindow, [RankedAccount])], asOf: Int64) -> String {
        var body = "<h1>BotHost leaderboards</h1><p class=\"muted\">as of \(ISOTime.format(microseconds: asOf))</p><div class=\"boards\">"
        for (window, entries) in boards {
            body += "<section class=\"card\"><h2>Last \(window.rawValue)</h2><table><thead><tr><th class=\"n\">#</th><th>account</th><th class=\"n\">XP gained</th><th class=\"n\">level</th></tr></thead><tbody>"
            if entries.isEmpty { body += "<tr><td colspan=\"4\" class=\"muted\">nobody yet</td></tr>" }
            for entry in entries {
                body += "<tr><td class=\"n\">\(entry.rank)</td><td>\(nameCell(did: entry.did, handle: entry.handle, displayName: entry.displayName))</td>"
                body += "<td class=\"n\">\(entry.score)</td><td class=\"n\">\(entry.level)</td></tr>"
            }
            body += "</tbody></table></section>"
        }
        return page(title: "BotHost leaderboards", body: body + "</div>")
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

    /// Cumulative XP over time as a polyline, at most ~300 points.
    static func chart(_ points: [(timeUS: Int64, xp: Int64)], width: Int = 720, height: Int = 240) -> String {
        let pad = 36.0
        guard let first = points.first, let last = points.last else {
            return "<p class=\"muted\">no XP yet</p>"
        }
        let step = max(1, points.count / 300)
        var sampled = stride(from: 0, to: points.count, by: step).map { points[$0] }
        if sampled.last?.timeUS != last.timeUS { sampled.append(last) }
        let t0 = Double(first.timeUS), t1 = Double(max(last.timeUS, first.timeUS + 1))
        let maxXP = Double(max(1, sampled.map(\.xp).max() ?? 1))
        let w = Double(width) - 2 * pad, h = Double(height) - 2 * pad
        let coordinates = sampled.map { point -> String in
            let x = pad + (Double(point.timeUS) - t0) / (t1 - t0) * w
            let y = pad + h - Double(point.xp) / maxXP * h
            return "\(Int(x.rounded())),\(Int(y.rounded()))"
        }.joined(separator: " ")
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" role="img" aria-label="XP over time">
        <rect x="0" y="0" width="\(width)" height="\(height)" fill="#ffffff"/>
        <line x1="\(Int(pad))" y1="\(Int(pad + h))" x2="\(Int(pad + w))" y2="\(Int(pad + h))" stroke="#9aa3b5"/>
        <line x1="\(Int(pad))" y1="\(Int(pad))" x2="\(Int(pad))" y2="\(Int(pad + h))" stroke="#9aa3b5"/>
        <text x="4" y="\(Int(pad) + 4)" font-size="11" fill="#6b7385">\(Int64(maxXP))</text>
        <text x="\(Int(pad))" y="\(height - 8)" font-size="11" fill="#6b7385">\(escape(ISOTime.format(microseconds: first.timeUS).prefix(10).description))</text>
        <polyline fill="none" stroke="#e4572e" stroke-width="3" points="\(coordinates)"/>
        </svg>
        """
    }

    static func account(_ account: AccountRecord, curve: LevelCurve, series: [(timeUS: Int64, xp: Int64)],
                        counts: [(String, Int64)], ledger: [LedgerRecord]) -> String {
        let next = curve.xpToReach(level: account.level + 1)
        var body = "<p><a href=\"/\">← leaderboards</a></p>"
        if let displayName = account.displayName {
            body += "<h1>\(escape(displayName))</h1><p class=\"muted\">\(escape(account.handle.map { "@" + $0 } ?? ""))</p>"
        } else {
            body += "<h1>\(escape(account.handle.map { "@" + $0 } ?? account.did))</h1>"
        }
        body += "<p class=\"muted\">\(escape(account.did)) · status \(escape(account.status))</p>"
        body += "<section class=\"card\"><h2>Level \(account.level) · \(account.xp) XP · \(max(0, next - account.xp)) XP to level \(account.level + 1)</h2>"
        body += chart(series) + "</section><div class=\"boards\" style=\"margin-top:16px\">"
        body += "<section class=\"card\"><h2>Activity</h2><table><thead><tr><th>event</th><th class=\"n\">count</th></tr></thead><tbody>"
        for (name, value) in counts { body += "<tr><td>\(escape(name))</td><td class=\"n\">\(value)</td></tr>" }
        body += "</tbody></table></section><section class=\"card\"><h2>Recent XP</h2><table><thead><tr><th>time</th><th class=\"n\">XP</th><th>rule</th></tr></thead><tbody>"
        for entry in ledger.prefix(20) {
            body += "<tr><td>\(ISOTime.format(microseconds: entry.timeUS).prefix(19))</td><td class=\"n\">\(entry.amount > 0 ? "+" : "")\(entry.amount)</td><td>\(escape(entry.plugin))/\(escape(entry.rule))</td></tr>"
        }
        body += "</tbody></table></section></div>"
        return page(title: account.displayName ?? account.handle ?? account.did, body: body)
    }
}
