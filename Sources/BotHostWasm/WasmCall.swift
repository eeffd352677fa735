import BotHost
import WasmKit

/// What the host functions see and collect during one call into the module: the event
/// (as handles onto the decoder's tape, never re-encoded), the plugin's declarations, and
/// the effects held back until the call returns cleanly.
final class WasmCall {
    enum Phase { case idle, initializing, event }

    /// One effect, applied in order after a clean return.
    enum Effect {
        case grant(rule: Int, amount: Int32)
        case revoke(rule: Int)
        case count(counter: Int)
        case stateSet(key: Int64, value: Int64)
    }

    var phase = Phase.idle
    // Declarations (from bothost_init).
    var wants: [String] = []
    var rules: [String] = []
    var counters: [String] = []
    var keys: [JSONKey] = []
    var keyTexts: [String] = []

    // The current event.
    var event: Event?
    /// Unowned: set for the duration of one `handle`, by the plugin that owns this call.
    unowned(unsafe) var context: PluginContext?
    var values: [JSONValue] = []
    var effects: [Effect] = []
    var logLines: [String] = []
    /// The guest's memory; cleared when the sandbox is retired, which breaks the cycle
    /// between the store (holding the host functions) and the functions (holding this).
    var memory: Memory?
    /// Grants go to the shadow ledger (`mode: shadow`).
    var isShadow = false
    /// The limit slot of the plugin's own numbers (`bh_state_*`).
    var stateSlot: CounterRef?

    init() {
        values.reserveCapacity(64)
        effects.reserveCapacity(8)
    }

    func begin(_ event: Event, _ context: PluginContext) {
        self.event = event
        self.context = context
        values.removeAll(keepingCapacity: true)
        effects.removeAll(keepingCapacity: true)
        phase = .event
    }

    func end() {
        event = nil
        context = nil
        phase = .idle
    }

    /// A new handle for `value`; -1 for a missing one.
    @inline(__always)
    func handle(_ value: JSONValue) throws(WasmHostTrap) -> Int32 {
        guard value.exists else { return -1 }
        guard values.count < WasmABI.maxHandles else { throw WasmHostTrap("more than \(WasmABI.maxHandles) handles in one event") }
        values.append(value)
        return Int32(values.count - 1)
    }

    /// The value of a handle; a missing value for -1 or any handle not made in this call.
    @inline(__always)
    func value(_ handle: Int32) -> JSONValue? {
        guard handle >= 0, Int(handle) < values.count else { return nil }
        return values[Int(handle)]
    }

    /// The value of `stateSet` still held back in this call, else the stored one.
    func pendingState(_ key: Int64) -> Int64? {
        for effect in effects.reversed() {
            if case .stateSet(key, let value) = effect { return value }
        }
        return nil
    }
}

/// A host function refused the call (a bad pointer, an init-only function called from an
/// event, too many handles): the call traps with this message.
struct WasmHostTrap: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// The host function asked for more fuel than was left.
struct WasmHostOutOfFuel: Error, CustomStringConvertible {
    var description: String { "out of fuel (in a host function)" }
}

/// The instance asked to grow its memory past its limit.
struct WasmMemoryLimitExceeded: Error, CustomStringConvertible {
    let pages: Int
    let limit: Int
    var description: String { "memory limit exceeded: asked for \(pages) pages, the limit is \(limit)" }
}
