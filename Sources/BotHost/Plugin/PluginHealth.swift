import Synchronization

/// How untrusted plugins are doing: events whose effects were dropped, by plugin and
/// reason, and which plugins are quarantined. Process-wide, so the host's writer, the
/// `/metrics` endpoint and the run summary read one account of it; persisted to the
/// store's `bot_state` (keys `plugin_health:<plugin>`) for `bothost status`.
public final class PluginHealth: Sendable {
    public static let shared = PluginHealth()

    /// One plugin's record.
    public struct Record: Sendable, Equatable {
        /// Failed events by reason (`fuel`, `memory`, `trap`, `error`, `batch_time`).
        public var failures: [String: Int] = [:]
        /// Events handled without failure.
        public var handled = 0
        /// Events not handled because the plugin is quarantined.
        public var skipped = 0
        /// Fuel the handled events used, for the average.
        public var fuelUsed: UInt64 = 0
        /// Why it was quarantined (nil: it runs).
        public var quarantined: String?
        public init() {}

        /// `{"failures":{"fuel":3},"handled":10,"skipped":0,"quarantined":null}`.
        public var json: String {
            let writer = JSONWriter()
            writer.object {
                writer.key("failures")
                writer.object { for (reason, count) in failures.sorted(by: { $0.key < $1.key }) { writer.field(reason, count) } }
                writer.field("handled", handled)
                writer.field("skipped", skipped)
                writer.field("fuel_used", Int(clamping: fuelUsed))
                writer.field("quarantined", quarantined)
                writer.field("summary", PluginHealth.summary(self))
            }
            return writer.output
        }
    }

    private let records = Mutex<[String: Record]>([:])

    public init() {}

    /// Adds to a plugin's record.
    public func update(_ plugin: String, _ change: (inout Record) -> Void) {
        records.withLock { change(&$0[plugin, default: Record()]) }
    }

    /// Every plugin's record, by plugin id.
    public func snapshot() -> [String: Record] {
        records.withLock { $0 }
    }

    /// Writes every record to the store's `bot_state` (`plugin_health:<plugin>`), for
    /// `bothost status`. A failure to write is not the host's failure: it is returned.
    @discardableResult
    public func persist(to store: any OutboxStore) -> (any Error)? {
        do {
            for (plugin, record) in snapshot() { try store.setBotState("plugin_health:" + plugin, record.json) }
            return nil
        } catch { return error }
    }

    /// `plugin wasm:x: 1,000 events, 120 fuel per event; lost effects: fuel 3; quarantined: …`.
    public static func line(_ plugin: String, _ record: Record) -> String {
        "plugin \(plugin): " + summary(record)
    }

    /// The line without the plugin's name.
    public static func summary(_ record: Record) -> String {
        var text = "\(NumberText.grouped(record.handled)) events"
        if record.handled > 0 { text += ", \(record.fuelUsed / UInt64(record.handled)) fuel per event" }
        let failures = record.failures.sorted { $0.key < $1.key }.map { "\($0.key) \(NumberText.grouped($0.value))" }
        if !failures.isEmpty { text += "; lost effects: " + failures.joined(separator: ", ") }
        if let why = record.quarantined { text += "; quarantined (\(NumberText.grouped(record.skipped)) events skipped): \(why)" }
        return text
    }

    /// Forgets everything (tests).
    public func reset() {
        records.withLock { $0.removeAll() }
    }
}
