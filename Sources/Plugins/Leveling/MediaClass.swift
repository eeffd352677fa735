import BotHost

/// How a post's media counts for XP (leveling spec, "Media and described").
public enum MediaClass: UInt8, Sendable, CaseIterable {
    /// No media: no embed, an external card, a quote, or an empty media list.
    case none = 0
    /// Media where at least one item has no alt text.
    case undescribed = 1
    /// Media where every item has alt text with a non-white-space character.
    case described = 2

    enum Keys {
        static let embed: JSONKey = "embed"
        static let type: JSONKey = "$type"
        static let images: JSONKey = "images"
        static let items: JSONKey = "items"
        static let alt: JSONKey = "alt"
        static let media: JSONKey = "media"
        static let imagesType: JSONKey = "app.bsky.embed.images"
        static let videoType: JSONKey = "app.bsky.embed.video"
        static let galleryType: JSONKey = "app.bsky.embed.gallery"
        static let recordWithMediaType: JSONKey = "app.bsky.embed.recordWithMedia"
    }

    /// Classifies a post record.
    public init(post record: JSONValue) {
        let embed = record[Keys.embed]
        let type = embed[Keys.type]
        if type.stringEquals(Keys.recordWithMediaType) {
            self = MediaClass(media: embed[Keys.media])
        } else {
            self = MediaClass(media: embed)
        }
    }

    /// Classifies one media embed (images, video or gallery; anything else is no media).
    init(media embed: JSONValue) {
        let type = embed[Keys.type]
        if type.stringEquals(Keys.imagesType) {
            self = MediaClass(items: embed[Keys.images])
        } else if type.stringEquals(Keys.galleryType) {
            self = MediaClass(items: embed[Keys.items])
        } else if type.stringEquals(Keys.videoType) {
            self = embed[Keys.alt].isNonBlankString ? .described : .undescribed
        } else {
            self = .none
        }
    }

    /// A list of media items, each described by its `alt`; an empty or missing list is no media.
    init(items: JSONValue) {
        var any = false
        var all = true
        for item in items.elements {
            any = true
            if !item[Keys.alt].isNonBlankString {
                all = false
                break
            }
        }
        self = !any ? .none : (all ? .described : .undescribed)
    }
}
