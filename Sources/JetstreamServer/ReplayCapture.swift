import BotHost

/// A capture loaded for serving: every well-formed event with what the server filters
/// on, ordered by `time_us` (stable, so one account's events keep their order).
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
        // Stable sort by time: ascending per connection, and per account in capture order.
        self.entries = entries.enumerated().sorted { ($0.element.timeUS, $0.offset) < ($1.element.timeUS, $1.offset) }.map(\.element)
        self.skipped = skipped
    }

    /// Index of the first event with `time_us >= cursor`.
    public func firstIndex(atOrAfter cursor: Int64) -> Int {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].timeUS < cursor { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
