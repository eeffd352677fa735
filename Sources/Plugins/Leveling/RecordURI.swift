import BotHost

/// `at://AUTHORITY/COLLECTION/RKEY` split on the raw bytes, without allocating.
public struct RecordURI {
    public let authority: UnsafeRawBufferPointer
    public let collection: UnsafeRawBufferPointer
    public let rkey: UnsafeRawBufferPointer

    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 5, bytes.starts(with: "at://".utf8) else { return nil }
        guard let slash1 = bytes[5...].firstIndex(of: UInt8(ascii: "/")),
              let slash2 = bytes[(slash1 + 1)...].firstIndex(of: UInt8(ascii: "/")) else { return nil }
        authority = UnsafeRawBufferPointer(rebasing: bytes[5..<slash1])
        collection = UnsafeRawBufferPointer(rebasing: bytes[(slash1 + 1)..<slash2])
        rkey = UnsafeRawBufferPointer(rebasing: bytes[(slash2 + 1)...])
    }

    public func collectionEquals(_ nsid: String) -> Bool { collection.elementsEqual(nsid.utf8) }

    /// Whether `uri` starts with `at://` + `did` + `/`.
    public static func hasAuthority(_ uri: UnsafeRawBufferPointer, _ did: UnsafeRawBufferPointer) -> Bool {
        let n = did.count
        guard uri.count > 5 + n, uri.starts(with: "at://".utf8), uri[5 + n] == UInt8(ascii: "/") else { return false }
        return UnsafeRawBufferPointer(rebasing: uri[5..<(5 + n)]).elementsEqual(did)
    }

    /// Calls `body` with a string value's bytes: in place when unescaped, decoded otherwise.
    public static func withBytes<T>(of value: JSONValue, _ body: (UnsafeRawBufferPointer) -> T?) -> T? {
        if let bytes = value.unescapedBytes { return body(bytes) }
        guard var text = value.string else { return nil }
        return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    /// Whether `uri` names a record in the event's own repository (`at://<did>/…`).
    public static func isOwn(_ uri: JSONValue, _ event: Event) -> Bool {
        guard let did = event.did.unescapedBytes else { return false }
        return withBytes(of: uri) { RecordURI.hasAuthority($0, did) } ?? false
    }
}
