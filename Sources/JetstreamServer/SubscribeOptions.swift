import BotHost

/// The filters of one v1 subscriber, from its query string and later `options_update`s.
public struct SubscribeOptions: Sendable, Equatable {
    /// Exact NSIDs wanted (empty together with `prefixes`: all collections).
    public var collections: Set<String> = []
    /// Prefixes from `app.bsky.feed.*` patterns (kept with their trailing dot).
    public var prefixes: [String] = []
    public var dids: Set<String> = []
    public var cursor: Int64?
    public var compress = false
    public var maxMessageSizeBytes = 0
    public var requireHello = false

    public init() {}

    /// Why a request was refused (HTTP 400 body, or the close reason of an options_update).
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Parses a v1 `/subscribe` query string.
    public static func parse(query: String) throws(Invalid) -> SubscribeOptions {
        var options = SubscribeOptions()
        var collections: [String] = []
        var dids: [String] = []
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = URLQuery.unescape(parts[0])
            let value = parts.count > 1 ? URLQuery.unescape(parts[1]) : ""
            switch key {
            case "wantedCollections": collections.append(value)
            case "wantedDids": dids.append(value)
            case "cursor":
                guard let cursor = Int64(value) else { throw Invalid("invalid cursor: \(value) is not an integer") }
                options.cursor = cursor
            case "compress": options.compress = value == "true"
            case "requireHello": options.requireHello = value == "true"
            case "maxMessageSizeBytes":
                guard let size = Int(value), size >= 0 else { throw Invalid("invalid maxMessageSizeBytes: \(value)") }
                options.maxMessageSizeBytes = size
            default: continue  // unknown parameters are ignored, as Jetstream does
            }
        }
        try options.setFilters(collections: collections, dids: dids)
        return options
    }

    /// Replaces the collection and DID filters (an empty list removes that filter).
    public mutating func setFilters(collections: [String], dids: [String]) throws(Invalid) {
        guard collections.count <= JetstreamSubscription.maxCollections else {
            throw Invalid("too many wantedCollections: \(collections.count) (at most \(JetstreamSubscription.maxCollections))")
        }
        guard dids.count <= JetstreamSubscription.maxDids else {
            throw Invalid("too many wantedDids: \(dids.count) (at most \(JetstreamSubscription.maxDids))")
        }
        var exact: Set<String> = []
        var prefixes: [String] = []
        for collection in collections {
            if collection.hasSuffix(".*") {
                let prefix = String(collection.dropLast(1))
                guard Self.isNSIDPrefix(prefix) else { throw Invalid("invalid wantedCollections prefix: \(collection)") }
                prefixes.append(prefix)
            } else {
                guard Self.isNSID(collection) else { throw Invalid("invalid wantedCollections: \(collection)") }
                exact.insert(collection)
            }
        }
        for did in dids where !(did.hasPrefix("did:") && did.split(separator: ":", omittingEmptySubsequences: false).count >= 3) {
            throw Invalid("invalid wantedDids: \(did)")
        }
        self.collections = exact
        self.prefixes = prefixes
        self.dids = Set(dids)
    }

    /// Applies a client's `{"type":"options_update","payload":{…}}` message.
    public mutating func apply(optionsUpdate text: String) throws(Invalid) {
        let (collections, dids, size) = try Self.readOptionsUpdate(text).get()
        try setFilters(collections: collections, dids: dids)
        if let size { maxMessageSizeBytes = size }
    }

    private static func readOptionsUpdate(_ text: String) -> Result<([String], [String], Int?), Invalid> {
        let tape = JSONTape()
        var bytes = Array(text.utf8)
        // Parse and read inside one closure: the tape points into `bytes`.
        return bytes.withUnsafeMutableBytes { buffer in
            guard (try? tape.parse(UnsafeRawBufferPointer(buffer))) != nil else {
                return .failure(Invalid("invalid options_update: not JSON"))
            }
            let root = tape.root
            guard root["type"].stringEquals("options_update") else {
                return .failure(Invalid("invalid message: expected type options_update"))
            }
            let payload = root["payload"]
            guard payload.kind == .object else { return .failure(Invalid("invalid options_update: missing payload")) }
            var lists: [[String]] = [[], []]
            for (index, key) in ["wantedCollections", "wantedDids"].enumerated() {
                let list = payload[JSONKey(key)]
                guard list.exists else { continue }
                guard list.kind == .array else { return .failure(Invalid("invalid options_update: \(key) must be a list")) }
                for item in list.elements {
                    guard let value = item.string else { return .failure(Invalid("invalid options_update: \(key) must hold strings")) }
                    lists[index].append(value)
                }
            }
            let size = payload["maxMessageSizeBytes"]
            if size.exists && (size.int64 ?? -1) < 0 {
                return .failure(Invalid("invalid options_update: maxMessageSizeBytes must be a non-negative integer"))
            }
            return .success((lists[0], lists[1], size.int64.map { Int($0) }))
        }
    }

    /// Whether an event passes the filters (identity and account events ignore the
    /// collection filter; the DID filter applies to every kind).
    public func wants(_ entry: ReplayCapture.Entry) -> Bool {
        if !dids.isEmpty && !dids.contains(entry.did) { return false }
        guard entry.kind == .commit, !(collections.isEmpty && prefixes.isEmpty) else { return true }
        guard let collection = entry.collection else { return false }
        return collections.contains(collection) || prefixes.contains { collection.hasPrefix($0) }
    }

    static func isNSID(_ text: String) -> Bool {
        let segments = text.split(separator: ".", omittingEmptySubsequences: false)
        return segments.count >= 3 && text.utf8.count <= 317 && segments.allSatisfy(isSegment)
    }

    static func isNSIDPrefix(_ prefix: String) -> Bool {
        guard prefix.hasSuffix(".") else { return false }
        let segments = prefix.dropLast().split(separator: ".", omittingEmptySubsequences: false)
        return segments.count >= 1 && segments.allSatisfy(isSegment)
    }

    private static func isSegment(_ segment: Substring) -> Bool {
        !segment.isEmpty && segment.utf8.count <= 63 && segment.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D
        }
    }
}
