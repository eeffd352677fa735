import BotHost
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// Subscriber options of the v2 wire (docs/research/jetstream-v2.md §1.2): `kinds`,
/// `dids`, `collections` (repeated), `cursor` (a seq below 1e15, else unix µs),
/// `maxMessageSizeBytes`, `zstdDictionary`; the v1 names are refused.
struct V2Options: Sendable, EventFilter {
    struct Invalid: Error, Sendable {
        var code: String
        var message: String
        init(_ message: String) {
            code = "InvalidRequest"
            self.message = message
        }
        init(code: String, _ message: String) {
            self.code = code
            self.message = message
        }
    }

    var kinds: Set<String> = []
    var filter = SubscribeOptions()
    var cursor: Int64?
    var compressed = false
    var maxMessageSizeBytes: Int { filter.maxMessageSizeBytes }
    var dictionary: ZstdDictionary? { ZstdDictionary.jetstreamV2 }

    static let validKinds: Set<String> = ["commit", "identity", "account", "sync"]

    static func parse(query: String) throws(Invalid) -> V2Options {
        var options = V2Options()
        var values: [String: [String]] = [:]
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values[URLQuery.unescape(parts[0]), default: []].append(parts.count > 1 ? URLQuery.unescape(parts[1]) : "")
        }
        let invalid = "subscribe: invalid options: "
        if values["compress"]?.first == "true" {
            throw Invalid("compress=true / Socket-Encoding: zstd is the /subscribe (v1) opt-in; this endpoint uses zstdDictionary=<id> with the dictionary from getZstdDictionary")
        }
        if let raw = values["zstdDictionary"]?.first, !raw.isEmpty {
            guard let id = UInt32(raw), id > 0 else { throw Invalid("zstdDictionary must be a positive integer zstd dictionary ID") }
            guard Int(id) == JetstreamV2.dictionaryID else {
                throw Invalid(code: "UnknownZstdDictionary", "unknown zstd dictionary id \(id); current dictionary id is \(JetstreamV2.dictionaryID) (fetch it via getZstdDictionary and reconnect)")
            }
            options.compressed = true
        }
        if values["wantedDids"] != nil { throw Invalid(invalid + "wantedDids is the legacy /subscribe parameter; use dids") }
        if values["wantedCollections"] != nil { throw Invalid(invalid + "wantedCollections is the legacy /subscribe parameter; use collections") }
        if values["requireHello"] != nil {
            throw Invalid(invalid + "requireHello is not supported on this endpoint; it is server-push only (subscriber-sourced messages were removed)")
        }
        let kinds = values["kinds"] ?? []
        guard kinds.count <= 4 else { throw Invalid(invalid + "too many kinds values: \(kinds.count) > 4") }
        for kind in kinds where !validKinds.contains(kind) {
            throw Invalid(invalid + "unknown kind \"\(kind)\" (valid: commit, identity, account, sync)")
        }
        options.kinds = Set(kinds)
        let collections = values["collections"] ?? []
        if !collections.isEmpty && !options.kinds.isEmpty && !options.kinds.contains("commit") {
            throw Invalid(invalid + "collections filter can never apply: kinds excludes commit")
        }
        do throws(SubscribeOptions.Invalid) {
            try options.filter.setFilters(collections: collections, dids: values["dids"] ?? [])
        } catch {
            throw Invalid(invalid + error.description)
        }
        if let sizes = values["maxMessageSizeBytes"] {
            guard sizes.count == 1, !sizes[0].isEmpty else { throw Invalid(invalid + "maxMessageSizeBytes must be one unsigned 32-bit integer") }
            guard let size = UInt32(sizes[0]) else { throw Invalid(invalid + "invalid maxMessageSizeBytes \"\(sizes[0])\"") }
            options.filter.maxMessageSizeBytes = Int(size)
        }
        if let raw = values["cursor"]?.first {
            guard let cursor = Int64(raw) else { throw Invalid("subscribe: invalid cursor: \"\(raw)\"") }
            guard cursor >= 0 else { throw Invalid("subscribe: invalid cursor: negative value \(cursor)") }
            options.cursor = cursor
        }
        return options
    }

    func wants(_ entry: ReplayCapture.Entry) -> Bool {
        if !kinds.isEmpty {
            let name = entry.kind == .commit ? "commit" : (entry.kind == .identity ? "identity" : "account")
            guard kinds.contains(name) else { return false }
        }
        return filter.wants(entry)
    }
}

extension ReplayServer {
    /// Serves the v2 wire: message frames, seq cursors, `#info OutdatedCursor` when a
    /// timestamp cursor predates the capture, `ConsumerTooSlow` for injected drops,
    /// close 1008 on any client data frame.
    func serveV2(_ options: V2Options, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel) async {
        let number = connectionCountIncrement()
        logger.info("v2 subscriber", metadata: ["connection": "\(number)", "cursor": "\(options.cursor.map(String.init) ?? "live")"])
        let compressed = options.compressed
        @Sendable func frame(_ text: [UInt8], _ encoder: ZstdFrameEncoder) -> WebSocketOutboundWriter.OutboundFrame {
            compressed ? .binary(ByteBuffer(bytes: encoder.compress(text))) : .text(String(decoding: text, as: UTF8.self))
        }
        // Resolve the cursor: seq (< 1e15, 0 = 1) or a timestamp.
        var startIndex = 0
        var minimumTime = Int64.min
        if let cursor = options.cursor {
            if cursor < 1_000_000_000_000_000 {
                startIndex = Int(max(cursor, 1) - 1)
            } else {
                startIndex = capture.firstIndex(atOrAfter: cursor)
                minimumTime = cursor
                if let oldest = capture.oldestTimeUS, cursor < oldest {
                    let info = V2Frames.info(name: "OutdatedCursor", message: "requested timestamp cursor below retention floor; starting at seq 1")
                    try? await outbound.write(frame(info, ZstdFrameEncoder(dictionary: ZstdDictionary.jetstreamV2)))
                }
            }
        }
        let start = startIndex
        let minimum = minimumTime
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Server-push only: any data frame from the client ends the connection.
                do {
                    for try await _ in inbound.messages(maxSize: 1 << 20) {
                        try? await outbound.close(.policyViolation, reason: "unexpected data message")
                        return
                    }
                } catch {}
            }
            group.addTask { [self] in
                let encoder = ZstdFrameEncoder(dictionary: ZstdDictionary.jetstreamV2)
                await self.sendEvents(startIndex: start, minimumTimeUS: minimum, filter: { options }, outbound: outbound, channel: channel,
                                      encode: { index, entry, _, _ in frame(V2Frames.message(entry, seq: Int64(index + 1)), encoder) },
                                      onDrop: { nextIndex in
                                          let error = V2Frames.error(name: "ConsumerTooSlow",
                                                                     message: "reading below the floor rate; reconnect with cursor=\(nextIndex + 1)")
                                          try? await outbound.write(frame(error, encoder))
                                      })
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// Builds v2 frames from captured v1 lines (keys alphabetical, `$type` first, as the
/// reference server writes them).
enum V2Frames {
    static func message(_ entry: ReplayCapture.Entry, seq: Int64) -> [UInt8] {
        let decoder = EventDecoder()
        return entry.json.withUnsafeBytes { line -> [UInt8] in
            guard let event = try? decoder.decode(line) else { return [] }
            var out = Array(#"{"$type":"message","payload":{"$type":"network.bsky.jetstream.subscribeEvents#"#.utf8)
            func raw(_ value: JSONValue) { if let bytes = value.rawBytes { out.append(contentsOf: bytes) } }
            func key(_ name: String) { out.append(contentsOf: Array(",\"\(name)\":".utf8)) }
            let time = Array("\"\(ISOTime.format(microseconds: event.timeUS))\"".utf8)
            switch event.kind {
            case .commit:
                let commit = event.commit!
                out.append(contentsOf: Array("commit\"".utf8))
                if commit.cid.exists && commit.operation != .delete { key("cid"); raw(commit.cid) }
                key("collection"); raw(commit.collection)
                key("did"); raw(event.did)
                key("operation"); out.append(contentsOf: Array("\"\(commit.operation == .create ? "create" : commit.operation == .update ? "update" : "delete")\"".utf8))
                if commit.operation != .delete { key("record"); raw(commit.record) }
                key("rev"); raw(commit.rev)
                key("rkey"); raw(commit.rkey)
            case .identity, .account:
                let name = event.kind == .identity ? "identity" : "account"
                out.append(contentsOf: Array("\(name)\"".utf8))
                if event.kind == .account { key("account"); raw(event.body) }
                key("did"); raw(event.did)
                if event.kind == .identity { key("identity"); raw(event.body) }
            }
            key("seq"); out.append(contentsOf: Array(String(seq).utf8))
            key("time"); out.append(contentsOf: time)
            out.append(contentsOf: Array("}}".utf8))
            return out
        }
    }

    static func info(name: String, message: String) -> [UInt8] {
        let json = JSONWriter()
        json.object {
            json.field("$type", "message")
            json.key("payload")
            json.object {
                json.field("$type", "network.bsky.jetstream.subscribeEvents#info")
                json.field("message", message)
                json.field("name", name)
            }
        }
        return Array(json.output.utf8)
    }

    static func error(name: String, message: String) -> [UInt8] {
        let json = JSONWriter()
        json.object {
            json.field("$type", "error")
            json.field("error", name)
            json.field("message", message)
        }
        return Array(json.output.utf8)
    }
}
