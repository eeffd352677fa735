import BotHost
import BotHostLabels
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// `com.atproto.label.subscribeLabels` (docs/labels.md): every label from the stored
/// sequence, in order, each once per connection. With `cursor=N` the stream replays the
/// labels after N first (from any N, across restarts: the sequence is stored), then
/// follows new ones; without a cursor it starts at the newest. A cursor beyond the newest
/// is refused (`FutureCursor`); one below what was pruned gets `#info OutdatedCursor` and
/// the replay from what is kept.
final class LabelStream: Sendable {
    let store: any LabelReading
    let reads: ReadPool
    /// How often a caught-up subscriber looks for new labels (one indexed read).
    let pollInterval: Duration
    let maxSubscribers: Int
    private let subscribers = Mutex(0)

    init(store: any LabelReading, reads: ReadPool, pollInterval: Duration = .milliseconds(250), maxSubscribers: Int = 256) {
        self.store = store
        self.reads = reads
        self.pollInterval = pollInterval
        self.maxSubscribers = maxSubscribers
    }

    var isFull: Bool { subscribers.withLock { $0 >= maxSubscribers } }

    /// Why a `cursor` parameter is refused; nil when it is absent or a number ≥ 0.
    static func cursorProblem(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        if let value = Int64(text), value >= 0 { return nil }
        return "cursor must be a sequence number (an integer, 0 or more)"
    }

    /// Takes a subscriber slot; false when all are taken.
    func admit() -> Bool {
        subscribers.withLock { count in
            guard count < maxSubscribers else { return false }
            count += 1
            return true
        }
    }

    /// Serves one admitted subscriber until it leaves or the server stops.
    func serve(cursor: Int64?, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        defer { subscribers.withLock { $0 -= 1 } }
        await withTaskGroup(of: Void.self) { group in
            // The client's frames are not part of the protocol; reading them notices when it leaves.
            group.addTask {
                do { for try await _ in inbound {} } catch {}
            }
            group.addTask { [self] in
                do {
                    try await send(cursor: cursor, outbound: outbound)
                } catch is CancellationError {
                } catch {
                    logger.debug("label subscriber ended: \(error)")
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func send(cursor: Int64?, outbound: WebSocketOutboundWriter) async throws {
        let sequence = try await reads.value { [store] in try store.labelSequence() }
        var position = sequence.last
        if let cursor {
            if cursor > sequence.last {
                try await outbound.write(.binary(ByteBuffer(bytes: LabelFrames.error("FutureCursor", message: "Cursor in the future."))))
                try await outbound.close(.normalClosure, reason: "FutureCursor")
                return
            }
            if cursor < sequence.prunedThrough {
                try await outbound.write(.binary(ByteBuffer(bytes: LabelFrames.info(
                    name: "OutdatedCursor", message: "labels up to \(sequence.prunedThrough) were pruned; replaying what is kept"))))
            }
            position = cursor
        }
        while !Task.isCancelled {
            let after = position
            let page = try await reads.value { [store] in try store.labels(after: after, limit: 500) }
            for label in page {
                try await outbound.write(.binary(ByteBuffer(bytes: LabelFrames.labels(label))))
                position = label.seq
            }
            if page.count < 500 { try await Task.sleep(for: pollInterval) }
        }
    }
}
