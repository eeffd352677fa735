/// The parts of an `at://` URI that name a record: `at://AUTHORITY/COLLECTION/RKEY`.
///
/// Likes and reposts point at their subject with such a URI; the host needs the
/// authority (to tell self-interactions) and the record key (to find the post).
public struct ATURI: Hashable, Sendable {
    /// The repository: a DID (or, rarely, a handle).
    public var authority: Substring
    /// The collection NSID, when the URI names one.
    public var collection: Substring?
    /// The record key, when the URI names one.
    public var rkey: Substring?

    /// Parses `at://authority[/collection[/rkey]]`; `nil` when the scheme or authority is missing.
    public init?(_ string: String) {
        guard string.hasPrefix("at://") else { return nil }
        let rest = string.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty else { return nil }
        authority = first
        collection = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
        rkey = parts.count > 2 && !parts[2].isEmpty ? parts[2].split(separator: "#").first.map { Substring($0) } : nil
    }
}
