/// Names for people to read instead of DIDs.
///
/// Jetstream tells a host an account's handle only when it changes (an identity event), so
/// most accounts a host ranks have never had one in its stream. A live host fetches the
/// names of the accounts it actually shows with `app.bsky.actor.getProfiles` and keeps
/// them beside the account, apart from what the stream said: the engine never writes
/// them, and the newer of the two handles is the one shown.
public struct FetchedProfile: Sendable, Equatable {
    public var did: String
    /// The normalized handle, or nil when the AppView had none that verifies
    /// (`handle.invalid`) or it is not valid handle syntax.
    public var handle: String?
    /// The display name made safe to print: no control or bidi-override characters, at
    /// most 64 characters; nil when empty.
    public var displayName: String?

    public init(did: String, handle: String?, displayName: String?) {
        self.did = did
        self.handle = handle.flatMap(Handle.normalized)
        self.displayName = displayName.flatMap(Self.safeDisplayName)
    }

    /// What a display name may show: anyone can put any text in their profile, and it ends
    /// up in a terminal table, a page and a post. Control characters (which could move a
    /// terminal's cursor or break a line), bidirectional overrides and isolates (which
    /// could make a name read as another) and zero-width joiners at the ends are dropped,
    /// whitespace runs become one space, and the name is cut at 64 characters
    /// (`app.bsky.actor.profile`'s maxGraphemes).
    public static func safeDisplayName(_ text: String) -> String? {
        var out = ""
        var pendingSpace = false
        var count = 0
        for character in text {
            guard count < 64 else { break }
            if character.isWhitespace || character.unicodeScalars.allSatisfy(Self.isInvisible) {
                if character.isWhitespace { pendingSpace = !out.isEmpty }
                continue
            }
            if pendingSpace { out.append(" "); count += 1; pendingSpace = false; guard count < 64 else { break } }
            var kept = String.UnicodeScalarView()
            for scalar in character.unicodeScalars where !Self.isInvisible(scalar) { kept.append(scalar) }
            out.unicodeScalars.append(contentsOf: kept)
            count += 1
        }
        return out.isEmpty ? nil : out
    }

    private static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true                  // C0, DEL, C1 controls
        case 0x200E, 0x200F, 0x061C: true                     // directional marks
        case 0x202A...0x202E, 0x2066...0x2069: true           // bidi embeddings, overrides, isolates
        case 0x2028, 0x2029: true                             // line and paragraph separators
        case 0xFEFF, 0x200B: true                             // BOM, zero-width space
        default: false
        }
    }
}

/// Where fetched names are kept (both stores).
public protocol ProfileStore: Sendable {
    /// When each of `dids` last had its profile fetched (unix µs); DIDs never fetched are
    /// absent.
    func profileFetchTimes(dids: [String]) throws -> [String: Int64]
    /// Keeps fetched names (`nil` fields included: a profile without a display name, or
    /// an account the AppView no longer knows, is remembered as fetched, so it is not asked
    /// again before the TTL). Accounts the store does not have are ignored.
    func saveProfiles(_ profiles: [FetchedProfile], fetchedUS: Int64) throws
}
