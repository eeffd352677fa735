/// Decodes Jetstream v1 JSON lines into ``Event``s without allocating per event.
///
/// Validation is two-level: the whole line must be valid JSON (checked by the tape),
/// and the envelope fields the host depends on must be present with the right types.
/// Record contents are not judged here: a rule reading a field of the wrong type sees
/// it as missing, so an odd record never stops a run.
public final class EventDecoder {
    /// The tape holding the current line's tokens.
    public let tape = JSONTape()

    public init() {}

    @usableFromInline enum Keys {
        static let did: JSONKey = "did"
        static let timeUS: JSONKey = "time_us"
        static let kind: JSONKey = "kind"
        static let commit: JSONKey = "commit"
        static let identity: JSONKey = "identity"
        static let account: JSONKey = "account"
        static let rev: JSONKey = "rev"
        static let operation: JSONKey = "operation"
        static let collection: JSONKey = "collection"
        static let rkey: JSONKey = "rkey"
        static let record: JSONKey = "record"
        static let cid: JSONKey = "cid"
        static let create: JSONKey = "create"
        static let update: JSONKey = "update"
        static let delete: JSONKey = "delete"
    }

    /// Decodes one line (without its newline).
    ///
    /// - Returns: the event, or `nil` for a well-formed event of a kind this host does
    ///   not know (they pass through uncounted as errors).
    /// - Throws: ``MalformedEvent`` saying what is wrong with the line.
    public func decode(_ line: UnsafeRawBufferPointer) throws(MalformedEvent) -> Event? {
        do {
            try tape.parse(line)
        } catch {
            throw MalformedEvent(syntax: error)
        }
        return try event(root: tape.root)
    }

    /// Reads and checks the envelope of an already tokenized line (a decode worker's
    /// tape, see ``ParallelDecoder``).
    func event(root: JSONValue) throws(MalformedEvent) -> Event? {
        guard root.kind == .object else { throw MalformedEvent(.wrongType, "event is not a JSON object") }
        let did = root[Keys.did]
        try require(did, .string, "did")
        let time = root[Keys.timeUS]
        try require(time, .integer, "time_us")
        guard let timeUS = time.int64, timeUS >= 0 else {
            throw MalformedEvent(.badValue, "time_us is out of range")
        }
        let kindValue = root[Keys.kind]
        try require(kindValue, .string, "kind")
        if kindValue.stringEquals(Keys.commit) {
            let commit = root[Keys.commit]
            try require(commit, .object, "commit")
            return Event(kind: .commit, did: did, timeUS: timeUS, commit: try commitFields(commit, .v1),
                body: root.missing)
        }
        if kindValue.stringEquals(Keys.identity) {
            let body = root[Keys.identity]
            try require(body, .object, "identity")
            return Event(kind: .identity, did: did, timeUS: timeUS, commit: nil, body: body)
        }
        if kindValue.stringEquals(Keys.account) {
            let body = root[Keys.account]
            try require(body, .object, "account")
            try require(body[Keys.active], .true, "account.active", orKind: .false)
            return Event(kind: .account, did: did, timeUS: timeUS, commit: nil, body: body)
        }
        return nil
    }

    /// The names of the commit fields in error messages, per wire.
    enum CommitFieldNames {
        case v1, v2
        var rev: StaticString { self == .v1 ? "commit.rev" : "payload.rev" }
        var operation: StaticString { self == .v1 ? "commit.operation" : "payload.operation" }
        var collection: StaticString { self == .v1 ? "commit.collection" : "payload.collection" }
        var rkey: StaticString { self == .v1 ? "commit.rkey" : "payload.rkey" }
        var record: StaticString { self == .v1 ? "commit.record" : "payload.record" }
        var badOperation: String { self == .v1 ? "commit.operation is not create, update or delete" : "payload.operation is not create, update or delete" }
    }

    /// Reads and checks the commit fields of an object (v1's `commit`, v2's flattened payload).
    func commitFields(_ object: JSONValue, _ names: CommitFieldNames) throws(MalformedEvent) -> Event.Commit {
        let rev = object[Keys.rev]
        try require(rev, .string, names.rev)
        let opValue = object[Keys.operation]
        try require(opValue, .string, names.operation)
        let collection = object[Keys.collection]
        try require(collection, .string, names.collection)
        let rkey = object[Keys.rkey]
        try require(rkey, .string, names.rkey)
        let operation: CommitOperation
        if opValue.stringEquals(Keys.create) {
            operation = .create
        } else if opValue.stringEquals(Keys.update) {
            operation = .update
        } else if opValue.stringEquals(Keys.delete) {
            operation = .delete
        } else {
            throw MalformedEvent(.badValue, names.badOperation)
        }
        let record = object[Keys.record]
        if operation != .delete { try require(record, .object, names.record) }
        return Event.Commit(operation: operation, collection: collection, rkey: rkey, rev: rev,
                            record: operation == .delete ? object.missing : record, cid: object[Keys.cid])
    }

    @inline(__always)
    func requireKind(_ value: JSONValue, _ kind: JSONTape.Kind, _ field: StaticString) throws(MalformedEvent) {
        try require(value, kind, field)
    }

    @inline(__always)
    private func require(_ value: JSONValue, _ kind: JSONTape.Kind, _ field: StaticString,
                         orKind other: JSONTape.Kind? = nil) throws(MalformedEvent) {
        guard let actual = value.kind else { throw MalformedEvent(.missingField, "missing field \(field)") }
        guard actual == kind || actual == other else {
            throw MalformedEvent(.wrongType, "\(field) is \(actual.name), expected \(other == nil ? kind.name : "a boolean")")
        }
    }
}

extension EventDecoder.Keys {
    static let active: JSONKey = "active"
}

extension JSONTape.Kind {
    /// The JSON type name, for error messages.
    public var name: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .integer: "an integer"
        case .number: "a number"
        case .true, .false: "a boolean"
        case .null: "null"
        }
    }
}

/// Why a line was skipped: a stable category for counting, and a sentence for people.
public struct MalformedEvent: Error, Sendable, CustomStringConvertible {
    /// A line that is not JSON.
    init(syntax error: JSONSyntaxError) {
        self.init(error.reason == .truncated ? .truncated : .invalidJSON, error.description)
    }

    /// Stable categories, used as metric labels and summary keys.
    public enum Reason: String, Sendable, CaseIterable, Comparable {
        case invalidJSON = "invalid_json"
        case truncated
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case badValue = "bad_value"
        case tooLong = "too_long"

        public static func < (a: Reason, b: Reason) -> Bool { a.rawValue < b.rawValue }
    }

    /// The category.
    public var reason: Reason
    /// What exactly is wrong, e.g. `missing field commit.rev`.
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { detail }
}
