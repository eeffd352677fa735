/// What one WebAssembly plugin may use, set per plugin in the config file
/// (`plugins.wasm[].limits`). The defaults fit the leveling rules with a wide margin:
/// the post rule spends about 200 fuel per event (docs/plugins-wasm.md).
public struct WasmLimits: Sendable, Equatable {
    /// Fuel (about one wasm instruction each; host calls cost more) per event.
    public var fuelPerEvent: UInt64 = 1_000_000
    /// Linear memory, in 64 KiB pages, the instance may have.
    public var memoryPages: Int = 16
    /// Wall-clock milliseconds the plugin may spend in one batch; past it, its remaining
    /// events of the batch fail with `batch_time`.
    public var batchTimeMS: Int = 1_000
    /// Failures within `quarantineWindowSeconds` of stream time that quarantine the plugin.
    public var quarantineFailures: Int = 20
    public var quarantineWindowSeconds: Int = 60

    public init() {}
}

/// Why a plugin's event lost its effects: the `reason` label of
/// `bothost_plugin_failures_total` and of `bothost status`.
public enum WasmFailure: String, Sendable, CaseIterable {
    /// The event's fuel ran out.
    case fuel
    /// The instance asked for more memory than its limit.
    case memory
    /// The module trapped (out-of-bounds access, `unreachable`, a bad argument to a host function…).
    case trap
    /// `bothost_on_event` returned a non-zero code.
    case error
    /// The plugin had used up its time for the batch.
    case batchTime = "batch_time"
}
