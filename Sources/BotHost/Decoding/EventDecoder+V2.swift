/// A message of the v2 wire (`/xrpc/network.bsky.jetstream.subscribeEvents`), whose
/// frames are `{"$type":"message","payload":{…}}` or `{"$type":"error",…}`.
public enum V2Message {
    /// A repository event, mapped onto the same ``Event`` model as v1; `seq` is the
    /// server's cursor.
    case event(Event, seq: Int64?)
    /// An `#info` advisory (e.g. `OutdatedCursor`): no event, does not move the cursor.
    case info(name: String, message: String)
    /// An error frame (`ConsumerTooSlow`, `InternalError`, …); the server closes after it.
    case error(name: String, message: String)
    /// A message type this host does not know (`#sync`, future ones): skipped.
    case unknown
}

extension EventDecoder {
    enum V2Keys {
        static let type: JSONKey = "$type"
        static let message: JSONKey = "message"
        static let error: JSONKey = "error"
        static let payload: JSONKey = "payload"
        static let name: JSONKey = "name"
        static let seq: JSONKey = "seq"
        static let time: JSONKey = "time"
        static let commit: JSONKey = "network.bsky.jetstream.subscribeEvents#commit"
        static let identity: JSONKey = "network.bsky.jetstream.subscribeEvents#identity"
        static let account: JSONKey = "network.bsky.jetstream.subscribeEvents#account"
        static let info: JSONKey = "network.bsky.jetstream.subscribeEvents#info"
    }

    /// Decodes one v2 frame (its JSON text) and maps events onto ``Event``: `time` becomes
    /// `time_us`, the commit's flattened fields become `commit`, `identity`/`account`
    /// bodies are the nested upstream objects.
    ///
    /// - Throws: ``MalformedEvent`` for invalid JSON or an event missing required fields.
    public func decodeV2(_ frame: UnsafeRawBufferPointer) throws(MalformedEvent) -> V2Message {
        do {
            try tape.parse(frame)
        } catch {
            throw MalformedEvent(error.reason == .truncated ? .truncated : .invalidJSON, error.description)
        }
        let root = tape.root
        guard root.kind == .object else { throw MalformedEvent(.wrongType, "frame is not a JSON object") }
        let type = root[V2Keys.type]
        if type.stringEquals(V2Keys.error) {
            return .error(name: root[V2Keys.error].string ?? "", message: root[V2Keys.message].string ?? "")
        }
        guard type.stringEquals(V2Keys.message) else { return .unknown }
        let payload = root[V2Keys.payload]
        guard payload.kind == .object else { throw MalformedEvent(.missingField, "missing field payload") }
        let payloadType = payload[V2Keys.type]
        if payloadType.stringEquals(V2Keys.info) {
            return .info(name: payload[V2Keys.name].string ?? "", message: payload[V2Keys.message].string ?? "")
        }
        let kind: EventKind
        if payloadType.stringEquals(V2Keys.commit) {
            kind = .commit
        } else if payloadType.stringEquals(V2Keys.identity) {
            kind = .identity
        } else if payloadType.stringEquals(V2Keys.account) {
            kind = .account
        } else {
            return .unknown
        }
        let did = payload[Keys.did]
        try requireKind(did, .string, "payload.did")
        let time = payload[V2Keys.time]
        try requireKind(time, .string, "payload.time")
        guard let timeUS = V2Time.parse(time) else { throw MalformedEvent(.badValue, "payload.time is not an RFC 3339 time") }
        let seq = payload[V2Keys.seq].int64
        switch kind {
        case .commit:
            return .event(Event(kind: .commit, did: did, timeUS: timeUS, commit: try commitFields(payload, .v2),
                                body: root.missing), seq: seq)
        case .identity:
            let body = payload[Keys.identity]
            try requireKind(body, .object, "payload.identity")
            return .event(Event(kind: .identity, did: did, timeUS: timeUS, commit: nil, body: body), seq: seq)
        case .account:
            let body = payload[Keys.account]
            try requireKind(body, .object, "payload.account")
            let active = body[Keys.active].kind
            guard active == .true || active == .false else {
                throw MalformedEvent(active == nil ? .missingField : .wrongType, "payload.account.active must be a boolean")
            }
            return .event(Event(kind: .account, did: did, timeUS: timeUS, commit: nil, body: body), seq: seq)
        }
    }
}

/// Reads a v2 `time` value.
enum V2Time {
    static func parse(_ value: JSONValue) -> Int64? {
        if let bytes = value.unescapedBytes { return ISOTime.parseMicroseconds(bytes) }
        guard var text = value.string else { return nil }
        return text.withUTF8 { ISOTime.parseMicroseconds(UnsafeRawBufferPointer($0)) }
    }
}
