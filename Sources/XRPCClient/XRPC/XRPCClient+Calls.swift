/// The typed calls BotHost makes. Each names its lexicon method.
extension XRPCClient {
    /// `com.atproto.repo.createRecord` in the bot's repository.
    ///
    /// With an explicit `rkey` the call is idempotent (the server refuses a second record
    /// under the same key), so it is retried after ambiguous failures; callers check
    /// with ``getRecord(repo:collection:rkey:as:)`` whether a refused create had landed.
    public func createRecord<Record: Encodable & Sendable>(collection: String, rkey: String?, record: Record,
                                                           validate: Bool? = nil) async throws(XRPCError) -> StrongRef {
        let repo = try await accountDID()
        return try await procedure("com.atproto.repo.createRecord",
                                   CreateRecordInput(repo: repo, collection: collection, rkey: rkey, validate: validate, record: record),
                                   idempotent: rkey != nil, as: StrongRef.self)
    }

    /// `com.atproto.repo.putRecord`: creates or replaces a record (e.g. the profile).
    public func putRecord<Record: Encodable & Sendable>(collection: String, rkey: String, record: Record,
                                                        swapRecord: String? = nil) async throws(XRPCError) -> StrongRef {
        let repo = try await accountDID()
        return try await procedure("com.atproto.repo.putRecord",
                                   PutRecordInput(repo: repo, collection: collection, rkey: rkey, record: record, swapRecord: swapRecord),
                                   idempotent: true, as: StrongRef.self)
    }

    /// `com.atproto.repo.deleteRecord` in the bot's repository.
    public func deleteRecord(collection: String, rkey: String) async throws(XRPCError) {
        struct Input: Encodable { var repo: String; var collection: String; var rkey: String }
        let repo = try await accountDID()
        _ = try await procedure("com.atproto.repo.deleteRecord", Input(repo: repo, collection: collection, rkey: rkey),
                                idempotent: true, as: Empty.self)
    }

    /// `com.atproto.repo.getRecord`; `nil` when the record does not exist.
    public func getRecord<Value: Decodable & Sendable>(repo: String, collection: String, rkey: String,
                                                       as: Value.Type = Value.self) async throws(XRPCError) -> RecordOutput<Value>? {
        do {
            return try await query("com.atproto.repo.getRecord",
                                   [("repo", repo), ("collection", collection), ("rkey", rkey)],
                                   authenticated: false, as: RecordOutput<Value>.self)
        } catch {
            if error.errorName == "RecordNotFound" || (error.status == 400 && (error.errorName == "InvalidRequest"
                || error.description.contains("not found") || error.description.contains("Could not locate"))) {
                return nil
            }
            throw error
        }
    }

    /// `com.atproto.identity.resolveHandle`.
    public func resolveHandle(_ handle: String) async throws(XRPCError) -> String {
        struct Output: Decodable { var did: String }
        return try await query("com.atproto.identity.resolveHandle", [("handle", handle)], authenticated: false,
                               as: Output.self).did
    }

    /// `app.bsky.actor.getProfile` (served by the AppView through the PDS).
    public func getProfile(_ actor: String) async throws(XRPCError) -> ProfileView {
        try await query("app.bsky.actor.getProfile", [("actor", actor)], as: ProfileView.self)
    }

    /// `app.bsky.actor.getProfiles`, 25 actors per call (the lexicon's limit): a longer list
    /// is asked in calls of 25, one after the other. Actors the AppView does not know are
    /// left out of the answer, not reported as errors.
    public func getProfiles(_ actors: [String]) async throws(XRPCError) -> [ProfileView] {
        struct Output: Decodable { var profiles: [ProfileView] }
        var profiles: [ProfileView] = []
        var start = actors.startIndex
        while start < actors.endIndex {
            let end = min(start + Self.profilesPerCall, actors.endIndex)
            profiles += try await query("app.bsky.actor.getProfiles", actors[start..<end].map { ("actors", $0) },
                                        as: Output.self).profiles
            start = end
        }
        return profiles
    }

    /// Actors per `getProfiles` call (`app.bsky.actor.getProfiles`'s `actors` maxLength).
    public static let profilesPerCall = 25

    /// `chat.bsky.convo.getConvoForMembers`, through the chat service proxy.
    public func getConvoForMembers(_ members: [String]) async throws(XRPCError) -> ConvoView {
        struct Output: Decodable { var convo: ConvoView }
        return try await query("chat.bsky.convo.getConvoForMembers", members.map { ("members", $0) },
                               proxy: Self.chatProxy, as: Output.self).convo
    }

    /// `chat.bsky.convo.sendMessage`, through the chat service proxy. Not idempotent:
    /// the lexicon has no key that would let the server drop a repeat.
    public func sendMessage(convoID: String, text: String, facets: [Facet]?) async throws(XRPCError) -> MessageView {
        struct Message: Encodable { var text: String; var facets: [Facet]? }
        struct Input: Encodable { var convoId: String; var message: Message }
        return try await procedure("chat.bsky.convo.sendMessage",
                                   Input(convoId: convoID, message: Message(text: text, facets: facets)),
                                   proxy: Self.chatProxy, idempotent: false, as: MessageView.self)
    }
}

struct CreateRecordInput<Record: Encodable>: Encodable {
    var repo: String
    var collection: String
    var rkey: String?
    var validate: Bool?
    var record: Record
}

struct PutRecordInput<Record: Encodable>: Encodable {
    var repo: String
    var collection: String
    var rkey: String
    var record: Record
    var swapRecord: String?
}
