import XRPCClient

/// Turns announcement templates into rich text: `{handle}` becomes a mention facet
/// (`@handle`) for accounts that opted in, and plain text (the handle without `@`, no
/// facet, no notification) for `no ping`.
public struct AnnouncementRenderer: Sendable {
    public var progression: Progression

    public init(progression: Progression) { self.progression = progression }

    /// The text for one or several milestones of one account.
    public func render(did: String, handle: String?, levels: [Int], xp: Int64?, mention: Bool) -> RichText {
        let levels = levels.sorted()
        let template = levels.count > 1 ? progression.announcementMany : progression.announcement
        return render(template: template, did: did, handle: handle, mention: mention,
                      values: ["levels": Self.list(levels), "level": String(levels.last ?? 0), "xp": xp.map(String.init) ?? ""])
    }

    /// Any template: `{handle}` becomes the mention (or plain handle), `{did}` the DID,
    /// and `{name}` each of `values`.
    public func render(template: String, did: String, handle: String?, mention: Bool, values: [String: String]) -> RichText {
        var builder = RichTextBuilder()
        for (index, piece) in template.splitAll(on: "{handle}").enumerated() {
            if index > 0 {
                let name = (handle?.isEmpty == false) ? handle! : did
                if mention { builder.mention("@" + name, did: did) } else { builder.text(name) }
            }
            var text = piece.replacingAll("{did}", with: did)
            for (key, value) in values { text = text.replacingAll("{\(key)}", with: value) }
            if !text.isEmpty { builder.text(text) }
        }
        return builder.build()
    }

    /// "5", "5 and 10", "5, 10 and 25".
    static func list(_ levels: [Int]) -> String {
        let names = levels.map(String.init)
        guard names.count > 1 else { return names.first ?? "" }
        return names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}

extension String {
    /// Splits on every occurrence of `separator` (no Foundation needed).
    func splitAll(on separator: String) -> [String] {
        var parts: [String] = []
        var rest = self
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = String(rest[range.upperBound...])
        }
        parts.append(rest)
        return parts
    }
}
