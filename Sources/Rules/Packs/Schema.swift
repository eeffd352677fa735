/// The types of rule-pack expressions.
public indirect enum ValueType: Equatable, Sendable, CustomStringConvertible {
    case bool, int, string, null, blob
    case list(ValueType)
    case optional(ValueType)
    /// An object of a named schema (a record, or a lexicon object such as a facet).
    case object(String)
    /// A lambda's result, only as a call argument.
    case function(ValueType)

    public var description: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .string: "string"
        case .null: "null"
        case .blob: "blob"
        case .list(let element): "list<\(element)>"
        case .optional(let wrapped): "\(wrapped)?"
        case .object(let name): name
        case .function(let result): "(… -> \(result))"
        }
    }

    /// The type without its optional wrapper.
    var unwrapped: ValueType {
        if case .optional(let wrapped) = self { return wrapped.unwrapped }
        return self
    }

    var isOptional: Bool {
        if case .optional = self { return true }
        return self == .null
    }

    /// Wraps in an optional unless already one.
    var asOptional: ValueType { isOptional ? self : .optional(self) }

    /// Parses a declared field type: `string`, `int`, `bool`, `blob`, `list<…>`, `…?`.
    static func parse(_ text: String) -> ValueType? {
        let text = text.trimmingCharacters(in: " ")
        if text.hasSuffix("?") { return parse(String(text.dropLast())).map { .optional($0) } }
        if text.hasPrefix("list<") && text.hasSuffix(">") { return parse(String(text.dropFirst(5).dropLast())).map { .list($0) } }
        switch text {
        case "string": return .string
        case "int": return .int
        case "bool": return .bool
        case "blob": return .blob
        default: return nil
        }
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var s = Substring(self)
        while s.first == character { s = s.dropFirst() }
        while s.last == character { s = s.dropLast() }
        return String(s)
    }
}

/// What the checker knows of the records a pack reads: the Bluesky lexicons' fields
/// (app.bsky.feed.post/like/repost, graph.follow/block, actor.profile, the embed union
/// and facets), and the event and account objects. Unions are flattened: a field that
/// only some variants have is optional.
public struct Schema: Sendable {
    public var objects: [String: [String: ValueType]]

    public static let bluesky = Schema(objects: [
        "app.bsky.feed.post": [
            "$type": .string, "text": .string, "createdAt": .string, "langs": .optional(.list(.string)),
            "facets": .optional(.list(.object("facet"))), "reply": .optional(.object("replyRef")),
            "embed": .optional(.object("embed")), "tags": .optional(.list(.string)), "labels": .optional(.object("selfLabels")),
        ],
        "app.bsky.feed.like": ["$type": .string, "subject": .object("strongRef"), "createdAt": .string, "via": .optional(.object("strongRef"))],
        "app.bsky.feed.repost": ["$type": .string, "subject": .object("strongRef"), "createdAt": .string, "via": .optional(.object("strongRef"))],
        "app.bsky.graph.follow": ["$type": .string, "subject": .string, "createdAt": .string],
        "app.bsky.graph.block": ["$type": .string, "subject": .string, "createdAt": .string],
        "app.bsky.actor.profile": [
            "$type": .string, "displayName": .optional(.string), "description": .optional(.string),
            "avatar": .optional(.blob), "banner": .optional(.blob), "labels": .optional(.object("selfLabels")),
            "createdAt": .optional(.string), "pinnedPost": .optional(.object("strongRef")),
        ],
        "facet": ["index": .object("byteSlice"), "features": .list(.object("facetFeature"))],
        "byteSlice": ["byteStart": .int, "byteEnd": .int],
        "facetFeature": ["$type": .string, "did": .optional(.string), "uri": .optional(.string), "tag": .optional(.string)],
        "replyRef": ["root": .object("strongRef"), "parent": .object("strongRef")],
        "strongRef": ["uri": .string, "cid": .string],
        "embed": [
            "$type": .string, "images": .optional(.list(.object("image"))), "video": .optional(.blob),
            "alt": .optional(.string), "captions": .optional(.list(.object("caption"))),
            "external": .optional(.object("external")), "record": .optional(.object("embedRecord")),
            "media": .optional(.object("embed")), "items": .optional(.list(.object("image"))),
            "aspectRatio": .optional(.object("aspectRatio")),
        ],
        "embedRecord": ["$type": .optional(.string), "uri": .optional(.string), "cid": .optional(.string),
                        "record": .optional(.object("strongRef"))],
        "image": ["alt": .string, "image": .blob, "aspectRatio": .optional(.object("aspectRatio"))],
        "caption": ["lang": .string, "file": .blob],
        "external": ["uri": .string, "title": .string, "description": .string, "thumb": .optional(.blob)],
        "aspectRatio": ["width": .int, "height": .int],
        "selfLabels": ["values": .list(.object("selfLabel"))],
        "selfLabel": ["val": .string],
        "event": ["did": .string, "collection": .string, "operation": .string, "rkey": .string, "time_us": .int,
                  "uri": .string, "cid": .optional(.string)],
        "account": ["xp": .int, "level": .int, "handle": .optional(.string)],
    ])

    /// Collections whose records the checker knows.
    public var collections: [String] { objects.keys.filter { $0.contains(".") }.sorted() }
}
