import Rules

/// How XP turns into levels and which levels are announced.
///
/// The host owns it (not a plugin) so that every XP change, from any plugin or from a
/// moderator's adjustment, re-levels the account the same way.
public struct Progression: Sendable, Equatable {
    /// The level curve.
    public var curve: LevelCurve
    /// Levels whose first reach is recorded and announced, ascending.
    public var milestones: [Int]
    /// Announcement text; placeholders `{handle}`, `{level}`, `{xp}`, `{did}`.
    public var announcement: String
    /// The text of several milestones announced in one post; `{levels}` lists them
    /// ("5 and 10"), `{level}` is the highest.
    public var announcementMany: String

    /// The defaults of the leveling pack.
    public static let `default` = Progression(
        curve: .default, milestones: [5, 10, 25, 50, 100],
        announcement: "{handle} reached level {level}!")

    public init(curve: LevelCurve, milestones: [Int], announcement: String,
                announcementMany: String = "{handle} reached levels {levels}!") {
        self.curve = curve
        self.milestones = Array(Set(milestones)).sorted()
        self.announcement = announcement
        self.announcementMany = announcementMany
    }

    /// Renders the announcement for an account.
    public func renderAnnouncement(handle: String, did: String, level: Int, xp: Int64) -> String {
        announcement
            .replacingAll("{handle}", with: handle.isEmpty ? did : "@" + handle)
            .replacingAll("{did}", with: did)
            .replacingAll("{level}", with: String(level))
            .replacingAll("{xp}", with: String(xp))
    }
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation needed).
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}

extension Substring {
    fileprivate func range(of target: String) -> Range<Substring.Index>? {
        let t = Array(target.utf8)
        let u = self.utf8
        var i = u.startIndex
        while i != u.endIndex {
            var j = i
            var k = 0
            while k < t.count && j != u.endIndex && u[j] == t[k] {
                j = u.index(after: j)
                k += 1
            }
            if k == t.count { return i..<j }
            i = u.index(after: i)
        }
        return nil
    }
}
