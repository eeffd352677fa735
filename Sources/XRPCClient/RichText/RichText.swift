/// Post text with its facets, ready for a record: `byteStart`/`byteEnd` are UTF-8 byte
/// offsets into `text`, as `app.bsky.richtext.facet` requires.
public struct RichText: Sendable, Equatable {
    public var text: String
    public var facets: [Facet]

    public init(text: String, facets: [Facet]) {
        self.text = text
        self.facets = facets
    }

    /// Graphemes as Bluesky counts them for the 300 limit: extended grapheme clusters,
    /// which is what a Swift `Character` is (an emoji with modifiers or a letter with
    /// combining marks counts once).
    public var graphemeCount: Int { text.count }
    public var byteCount: Int { text.utf8.count }

    /// `app.bsky.feed.post` limits on `text`.
    public static let maxGraphemes = 300
    public static let maxBytes = 3_000
}

/// Builds rich text from segments, computing each facet's byte range as it appends.
///
/// ```swift
/// var builder = RichTextBuilder()
/// builder.mention("@alice.test", did: "did:plc:…")
/// builder.text(" reached level 10 🎉 ")
/// builder.tag("#bothost", tag: "bothost")
/// let post = builder.build(maxGraphemes: 300)
/// ```
public struct RichTextBuilder: Sendable {
    struct Segment: Sendable {
        var text: String
        var feature: Facet.Feature?
    }
    var segments: [Segment] = []

    public init() {}

    /// Plain text.
    public mutating func text(_ text: String) { segments.append(Segment(text: text, feature: nil)) }

    /// Text (usually `@handle`) that mentions an account: a notification for it.
    public mutating func mention(_ text: String, did: String) { segments.append(Segment(text: text, feature: .mention(did: did))) }

    /// Text that links to a URL.
    public mutating func link(_ text: String, uri: String) { segments.append(Segment(text: text, feature: .link(uri: uri))) }

    /// Text (usually `#tag`) tagged with `tag` (without the `#`).
    public mutating func tag(_ text: String, tag: String) { segments.append(Segment(text: text, feature: .tag(tag))) }

    /// The text and facets, whole, whatever their length.
    public func buildWhole() -> RichText {
        var text = ""
        var facets: [Facet] = []
        for segment in segments {
            let start = text.utf8.count
            text += segment.text
            if let feature = segment.feature, !segment.text.isEmpty {
                facets.append(Facet(byteStart: start, byteEnd: text.utf8.count, features: [feature]))
            }
        }
        return RichText(text: text, facets: facets)
    }

    /// The text and facets within the post limits (by default), cut safely when too long.
    ///
    /// The rule: segments are kept in order while they fit; a faceted segment (mention,
    /// link, tag) is never cut, since half a handle or URL would be a wrong link, so it is
    /// dropped whole with everything after it; plain text is cut at a grapheme boundary,
    /// never inside an emoji or a combining sequence. Trailing spaces are trimmed and
    /// `ellipsis` is appended when anything was cut, within the same limits.
    public func build(maxGraphemes: Int = RichText.maxGraphemes, maxBytes: Int = RichText.maxBytes,
                      ellipsis: String = "…") -> RichText {
        let whole = buildWhole()
        if whole.graphemeCount <= maxGraphemes && whole.byteCount <= maxBytes { return whole }
        let graphemeBudget = maxGraphemes - ellipsis.count
        let byteBudget = maxBytes - ellipsis.utf8.count
        var text = ""
        var graphemes = 0
        var facets: [Facet] = []
        for segment in segments {
            let count = segment.text.count
            let bytes = segment.text.utf8.count
            // Appending may merge graphemes across the boundary (a combining mark after
            // text): count the joined text, not the parts.
            if graphemes + count <= graphemeBudget && text.utf8.count + bytes <= byteBudget {
                let start = text.utf8.count
                let joined = text + segment.text
                if joined.count <= graphemeBudget {
                    text = joined
                    graphemes = joined.count
                    if let feature = segment.feature, !segment.text.isEmpty {
                        facets.append(Facet(byteStart: start, byteEnd: text.utf8.count, features: [feature]))
                    }
                    continue
                }
            }
            if segment.feature == nil {
                for character in segment.text {
                    let joined = text + String(character)
                    guard joined.count <= graphemeBudget, joined.utf8.count <= byteBudget else { break }
                    text = joined
                }
            }
            break
        }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        // Facets must stay inside the text after trimming.
        let length = text.utf8.count
        facets.removeAll { $0.index.byteEnd > length }
        return RichText(text: text + ellipsis, facets: facets)
    }
}
