/// What a Jetstream connection asks for, on either wire.
public struct JetstreamSubscription: Sendable, Equatable {
    /// Collection NSIDs or prefixes ending in `.*` (v1 `wantedCollections`, v2 `collections`).
    public var collections: [String]
    /// Repositories to follow; empty = all (v1 `wantedDids`, v2 `dids`).
    public var dids: [String]
    /// Ask for zstd-compressed frames.
    public var compress: Bool
    /// Events larger than this are skipped by the server (nil: no limit).
    public var maxMessageSizeBytes: Int?

    public init(collections: [String], dids: [String] = [], compress: Bool = true, maxMessageSizeBytes: Int? = nil) {
        self.collections = collections
        self.dids = dids
        self.compress = compress
        self.maxMessageSizeBytes = maxMessageSizeBytes
    }

    /// Jetstream v1 caps: 100 collections, 10,000 DIDs.
    public static let maxCollections = 100
    public static let maxDids = 10_000
}

/// Which of Jetstream's two wires an endpoint speaks.
public enum JetstreamWire: String, Sendable {
    /// `/subscribe`: one JSON event per text message, or one zstd frame per binary message.
    case v1
    /// `/xrpc/network.bsky.jetstream.subscribeEvents`: typed message frames, `seq` cursors.
    case v2
}

/// A Jetstream endpoint: a base URL plus the wire it speaks, chosen by the URL's path.
public struct JetstreamEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// `ws[s]://host[:port]` without path or query.
    public let origin: String
    public let wire: JetstreamWire

    /// The v2 method path.
    public static let v2Path = "/xrpc/network.bsky.jetstream.subscribeEvents"

    /// Parses `wss://host`, `wss://host/subscribe` (v1) or `wss://host/xrpc/network.bsky.jetstream.subscribeEvents` (v2).
    ///
    /// Plain-text `ws://` is accepted for a loopback host only (a replay server, a local
    /// relay), or anywhere with `allowPlaintext` (`--allow-plaintext-jetstream`): over the
    /// network, anyone on the path could otherwise feed the host events.
    /// - Throws: `CaptureError` for other schemes or paths, and for `ws://` elsewhere.
    public init(_ url: String, allowPlaintext: Bool = false) throws(CaptureError) {
        guard url.hasPrefix("ws://") || url.hasPrefix("wss://") else {
            throw CaptureError("Jetstream URL must start with ws:// or wss://: \(url)")
        }
        let rest = url.drop(while: { $0 != ":" }).dropFirst(3)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        guard authorityEnd > rest.startIndex else { throw CaptureError("Jetstream URL has no host: \(url)") }
        if url.hasPrefix("ws://"), !allowPlaintext, !Self.isLoopback(authority: rest[rest.startIndex..<authorityEnd]) {
            throw CaptureError("plain-text ws:// is accepted for loopback hosts only: use wss:// for \(url), or --allow-plaintext-jetstream")
        }
        origin = String(url[url.startIndex..<authorityEnd])
        let path = String(rest[authorityEnd...].prefix(while: { $0 != "?" }))
        switch path {
        case "", "/", "/subscribe": wire = .v1
        case Self.v2Path: wire = .v2
        default: throw CaptureError("unknown Jetstream path \(path) in \(url): use /subscribe (v1) or \(Self.v2Path) (v2)")
        }
    }

    /// Whether `host[:port]` names this machine.
    static func isLoopback(authority: Substring) -> Bool {
        var host = authority
        if host.hasPrefix("[") {
            host = host.dropFirst().prefix { $0 != "]" }
            return host == "::1"
        }
        host = host.prefix { $0 != ":" }
        if host.lowercased() == "localhost" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The four public v1 instances.
    public static let publicHosts = [
        "wss://jetstream1.us-east.bsky.network/subscribe",
        "wss://jetstream2.us-east.bsky.network/subscribe",
        "wss://jetstream1.us-west.bsky.network/subscribe",
        "wss://jetstream2.us-west.bsky.network/subscribe",
    ]

    public var description: String { origin + (wire == .v1 ? "/subscribe" : Self.v2Path) }

    /// The URL to connect to for `subscription`, resuming at `cursor` (v1: microseconds;
    /// v2: a `seq`).
    public func url(for subscription: JetstreamSubscription, cursor: Int64?, requireHello: Bool = false) -> String {
        var query: [(String, String)] = []
        switch wire {
        case .v1:
            for collection in subscription.collections { query.append(("wantedCollections", collection)) }
            for did in subscription.dids { query.append(("wantedDids", did)) }
            if subscription.compress { query.append(("compress", "true")) }
            if let size = subscription.maxMessageSizeBytes { query.append(("maxMessageSizeBytes", String(size))) }
            if requireHello { query.append(("requireHello", "true")) }
        case .v2:
            for collection in subscription.collections { query.append(("collections", collection)) }
            for did in subscription.dids { query.append(("dids", did)) }
            if subscription.compress { query.append(("zstdDictionary", String(JetstreamV2.dictionaryID))) }
            if let size = subscription.maxMessageSizeBytes { query.append(("maxMessageSizeBytes", String(size))) }
        }
        if let cursor { query.append(("cursor", String(cursor))) }
        let path = wire == .v1 ? "/subscribe" : Self.v2Path
        return origin + path + (query.isEmpty ? "" : "?" + query.map { "\($0.0)=\(URLQuery.escape($0.1))" }.joined(separator: "&"))
    }

    /// The `options_update` message that changes a v1 subscription in place.
    public static func optionsUpdate(_ subscription: JetstreamSubscription) -> String {
        let json = JSONWriter()
        json.object {
            json.field("type", "options_update")
            json.key("payload")
            json.object {
                json.array("wantedCollections") { for c in subscription.collections { json.element(c) } }
                json.array("wantedDids") { for d in subscription.dids { json.element(d) } }
                json.field("maxMessageSizeBytes", subscription.maxMessageSizeBytes ?? 0)
            }
        }
        return json.output
    }
}

/// Percent-encoding of query values (RFC 3986 unreserved characters stay).
public enum URLQuery {
    public static func escape(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"), UInt8(ascii: "*"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    /// Decodes `%XX` escapes and `+` (as a space) in a query value.
    public static func unescape(_ value: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = value.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let h = iterator.next(), let l = iterator.next(),
               let hi = JSONTape.hexValue(h), let lo = JSONTape.hexValue(l) {
                bytes.append(UInt8(hi << 4 | lo))
            } else if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Facts of the v2 wire shared by the client and the replay server.
public enum JetstreamV2 {
    /// The dictionary id selected by `zstdDictionary` (dictID of `jetstream-v2-zstd-dictionary`).
    public static let dictionaryID = 20_260_811
}
