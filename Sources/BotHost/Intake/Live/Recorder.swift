/// `bothost record`: follows Jetstream like `run` (same connector, reconnects and
/// cursor) but writes each event's JSON line to a capture instead of applying it.
/// v1 lines are written verbatim; v2 events are written in the v1 line shape so every
/// capture replays the same way.
public final class JetstreamRecorder: Sendable {
    let configuration: JetstreamConnector.Configuration
    let logger: Logger

    public init(configuration: JetstreamConnector.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Counts of a recording.
    public struct Result: Sendable {
        public var events = 0
        public var malformed = 0
    }

    /// Records until `count` events, `duration` seconds, `exitIdle` quiet seconds, or cancellation.
    public func record(into writer: CaptureWriter, cursor: Int64?, count: Int?, duration: Double?, exitIdle: Double?) async throws -> Result {
        let queue = LiveFrame.queue()
        let progress = IngestProgress()
        var adjusted = self.configuration
        adjusted.rewindUS = 0
        let configuration = adjusted
        let storedCursor = cursor
        let connector = JetstreamConnector(configuration: configuration, queue: queue, progress: progress, logger: logger)
        let decoder = EventDecoder()
        let zstdV1 = ZstdFrameDecoder(dictionary: .jetstreamV1)
        let zstdV2 = ZstdFrameDecoder(dictionary: .jetstreamV2)
        let start = Clock.monotonicSeconds()
        var result = Result()
        var failure: CaptureError?
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await connector.run(storedCursor: storedCursor) }
            outer: while true {
                let frames = await queue.next(timeout: 0.25)
                for frame in frames {
                    let handle: (UnsafeRawBufferPointer) -> Void = { bytes in
                        do throws(CaptureError) {
                            if let timeUS = try Self.write(bytes, wire: frame.wire, decoder: decoder, writer: writer) {
                                result.events += 1
                                progress.applied(timeUS: timeUS, session: frame.session)
                            } else {
                                result.malformed += 1
                            }
                        } catch {
                            failure = error
                        }
                    }
                    frame.bytes.withUnsafeReadableBytes { raw in
                        guard !frame.isText else { return handle(raw) }
                        let zstd = frame.wire == .v1 ? zstdV1 : zstdV2
                        if let bytes = try? zstd.decompress(raw) { handle(bytes) } else { result.malformed += 1 }
                    }
                    if failure != nil { break outer }
                    if let count, result.events >= count { break outer }
                }
                if let duration, Clock.monotonicSeconds() - start >= duration { break }
                if let exitIdle, progress.idleSeconds >= exitIdle { break }
                if Task.isCancelled { break }
            }
            queue.close()
            group.cancelAll()
        }
        if let failure { throw failure }
        return result
    }

    /// Writes one frame's event; returns its time, or nil when it was not a valid event.
    private static func write(_ bytes: UnsafeRawBufferPointer, wire: JetstreamWire, decoder: EventDecoder,
                              writer: CaptureWriter) throws(CaptureError) -> Int64? {
        if wire == .v1 {
            guard let event = try? decoder.decode(bytes) else { return nil }
            let time = event.timeUS
            try writer.write(line: bytes)
            return time
        }
        guard case let .event(event, _)? = try? decoder.decodeV2(bytes) else { return nil }
        let time = event.timeUS
        let line = V1Line.make(event)
        var failure: CaptureError?
        line.withUnsafeBytes { buffer in
            do throws(CaptureError) { try writer.write(line: buffer) } catch { failure = error }
        }
        if let failure { throw failure }
        return time
    }
}

/// The v1 line of an event (`{"did","time_us","kind",…}`), built from its raw parts.
public enum V1Line {
    public static func make(_ event: Event) -> [UInt8] {
        var out = Array("{\"did\":".utf8)
        func raw(_ value: JSONValue) { if let bytes = value.rawBytes { out.append(contentsOf: bytes) } }
        raw(event.did)
        out.append(contentsOf: Array(",\"time_us\":\(event.timeUS),\"kind\":".utf8))
        switch event.kind {
        case .commit:
            let commit = event.commit!
            out.append(contentsOf: Array("\"commit\",\"commit\":{\"rev\":".utf8))
            raw(commit.rev)
            let op = commit.operation == .create ? "create" : commit.operation == .update ? "update" : "delete"
            out.append(contentsOf: Array(",\"operation\":\"\(op)\",\"collection\":".utf8))
            raw(commit.collection)
            out.append(contentsOf: Array(",\"rkey\":".utf8))
            raw(commit.rkey)
            if commit.operation != .delete {
                out.append(contentsOf: Array(",\"record\":".utf8))
                raw(commit.record)
                if commit.cid.exists {
                    out.append(contentsOf: Array(",\"cid\":".utf8))
                    raw(commit.cid)
                }
            }
            out.append(contentsOf: Array("}}".utf8))
        case .identity, .account:
            let name = event.kind == .identity ? "identity" : "account"
            out.append(contentsOf: Array("\"\(name)\",\"\(name)\":".utf8))
            raw(event.body)
            out.append(0x7D)
        }
        return out
    }
}

import Logging
import WSClient
import NIOCore
