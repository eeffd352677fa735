import BotHost

/// An atproto label (`com.atproto.label.defs#label`): a labeler's signed statement that a
/// value applies to (or, negated, no longer applies to) an account or record.
public struct Label: Sendable, Equatable {
    /// Always 1.
    public var ver: Int64 = 1
    /// The labeler's DID.
    public var src: String
    /// The subject: a DID (the account) or an at:// URI (a record).
    public var uri: String
    /// The subject record's CID, when a specific version is meant.
    public var cid: String?
    /// The label value, e.g. `level-10` (at most 128 bytes).
    public var val: String
    /// Whether this negates an earlier label of the same value.
    public var neg: Bool
    /// Creation time, RFC 3339 with milliseconds and `Z`.
    public var cts: String
    /// Expiry, when the label lapses on its own.
    public var exp: String?
    /// The signature over the label without `sig` (64 bytes, compact r‖s, low-S).
    public var sig: [UInt8]?

    public init(src: String, uri: String, cid: String? = nil, val: String, neg: Bool = false, cts: String, exp: String? = nil) {
        self.src = src; self.uri = uri; self.cid = cid; self.val = val; self.neg = neg; self.cts = cts; self.exp = exp
    }

    /// The DAG-CBOR of the label without `sig`: the bytes the signature covers. `neg` is
    /// written only when true and `cid`/`exp` only when set, as the reference
    /// implementation does.
    public var unsignedCBOR: [UInt8] { object(includingSignature: false).encoded() }

    /// The label as DAG-CBOR, with its signature (a `#labels` frame's element).
    public var cbor: DAGCBOR { object(includingSignature: true) }

    private func object(includingSignature: Bool) -> DAGCBOR {
        var entries: [(String, DAGCBOR)] = [("ver", .int(ver)), ("src", .text(src)), ("uri", .text(uri)), ("val", .text(val)), ("cts", .text(cts))]
        if let cid { entries.append(("cid", .text(cid))) }
        if neg { entries.append(("neg", .bool(true))) }
        if let exp { entries.append(("exp", .text(exp))) }
        if includingSignature, let sig { entries.append(("sig", .bytes(sig))) }
        return .map(entries)
    }

    /// `2026-12-04T15:31:17.681Z` for a time in microseconds (labels carry milliseconds).
    public static func timestamp(_ us: Int64) -> String {
        let full = ISOTime.format(microseconds: us)  // 2026-12-04T15:31:17.681094Z
        guard let dot = full.firstIndex(of: ".") else { return full }
        return String(full[..<dot]) + "." + full[full.index(after: dot)...].prefix(3) + "Z"
    }
}
