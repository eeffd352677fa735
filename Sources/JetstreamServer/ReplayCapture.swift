import BotHost

/// A capture loaded for serving: every well-formed event with what the server filters
/// on, in the capture's own order.
///
/// The order is kept, not sorted by `time_us`: a capture is the order Jetstream emitted
/// the events in, which is not strictly ascending in `time_us` across accounts (delivery
/// jitter of a few milliseconds), and re-sorting would let a delete overtake the repost
/// that came before it, so a live run would no longer match a replay of the same file.
public final class ReplayCapture: Sendable {
    /// One servable event.
    public struct Entry: Sendable {
        public let timeUS: Int64
        public let did: String
        public let kind: EventKind
        /// Collection of a commit event.
        public let collection: String?
        /// The line exactly as captured.
        public let json: [UInt8]
    }

    public let entries: [Entry]
    /// Lines that could not be decoded (not served: they have no time to place them at).
    public let skipped: Int
    /// The oldest `time_us` in the capture (a cursor before it asks for history it lacks).
    public let oldestTimeUS: Int64?
    /// `prefixMax[i]` = the highest `time_us` among entries `0...i`, for cursor lookups.
    private let prefixMax: [Int64]

    /// Loads a capture file (`.jsonl`, `.jsonl.zst`, `-`).
    public convenience init(path: String) throws {
        let reader = try openCapture(path)
        var lines: [[UInt8]] = []
        try reader.forEachLine { line in
            if case let .text(bytes) = line { lines.append(Array(bytes)) }
            return true
        }
        self.init(lines: lines)
    }

    /// Indexes raw JSON lines.
    public init(lines: [[UInt8]]) {
        let decoder = EventDecoder()
        var entries: [Entry] = []
        var skipped = 0
        entries.reserveCapacity(lines.count)
        for line in lines {
            let entry: Entry? = line.withUnsafeBytes { bytes in
                guard let event = try? decoder.decode(bytes), let did = event.did.string else { return nil }
                return Entry(timeUS: event.timeUS, did: did, kind: event.kind,
                             collection: event.commit?.collection.string, json: line)
            }
            if let entry { entries.append(entry) } else { skipped += 1 }
        }
        self.entries = entries
        self.skipped = skipped
        oldestTimeUS = entries.map(\.timeUS).min()
        var running = Int64.min
        prefixMax = entries.map { entry in
            running = max(running, entry.timeUS)
            return running
        }
    }

    /// Index of the first event (in capture order) with `time_us >= cursor`; a replay
    /// from a cursor serves from there on, skipping the few later events older than it.
    public func firstIndex(atOrAfter cursor: Int64) -> Int {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if prefixMax[mid] < cursor { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
