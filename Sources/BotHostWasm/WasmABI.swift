import WasmKit

/// The contract between BotHost and a WebAssembly plugin (docs/plugins-wasm.md,
/// examples/wasm-plugin/bothost.h). Versioned: a module says which version it was built
/// for, and a host refuses one it does not speak rather than guess.
public enum WasmABI {
    /// The version this host speaks.
    public static let version: Int32 = 1
    /// The import module every host function lives in.
    public static let importModule = "bothost"
    /// What a module must export.
    public static let requiredExports = ["memory", "bothost_abi_version", "bothost_init", "bothost_on_event"]

    /// One host function: its import name and wasm signature.
    public struct HostFunction: Sendable {
        public let name: String
        public let parameters: [ValueType]
        public let results: [ValueType]
        /// Whether it may be called only from `bothost_init`.
        public let initOnly: Bool
    }

    /// Every function a version-1 module may import, and nothing else.
    public static let hostFunctions: [HostFunction] = [
        HostFunction(name: "want", parameters: [.i32, .i32], results: [], initOnly: true),
        HostFunction(name: "rule", parameters: [.i32, .i32], results: [.i32], initOnly: true),
        HostFunction(name: "counter", parameters: [.i32, .i32], results: [.i32], initOnly: true),
        HostFunction(name: "key", parameters: [.i32, .i32], results: [.i32], initOnly: true),
        HostFunction(name: "record", parameters: [], results: [.i32], initOnly: false),
        HostFunction(name: "get", parameters: [.i32, .i32], results: [.i32], initOnly: false),
        HostFunction(name: "at", parameters: [.i32, .i32], results: [.i32], initOnly: false),
        HostFunction(name: "len", parameters: [.i32], results: [.i32], initOnly: false),
        HostFunction(name: "kind", parameters: [.i32], results: [.i32], initOnly: false),
        HostFunction(name: "equals", parameters: [.i32, .i32], results: [.i32], initOnly: false),
        HostFunction(name: "nonblank", parameters: [.i32], results: [.i32], initOnly: false),
        HostFunction(name: "int", parameters: [.i32, .i64], results: [.i64], initOnly: false),
        HostFunction(name: "string", parameters: [.i32, .i32, .i32], results: [.i32], initOnly: false),
        HostFunction(name: "did", parameters: [.i32, .i32], results: [.i32], initOnly: false),
        HostFunction(name: "collection", parameters: [.i32, .i32], results: [.i32], initOnly: false),
        HostFunction(name: "rkey", parameters: [.i32, .i32], results: [.i32], initOnly: false),
        HostFunction(name: "time_us", parameters: [], results: [.i64], initOnly: false),
        HostFunction(name: "grant", parameters: [.i32, .i32], results: [], initOnly: false),
        HostFunction(name: "revoke", parameters: [.i32], results: [], initOnly: false),
        HostFunction(name: "current_grant", parameters: [], results: [.i32], initOnly: false),
        HostFunction(name: "grant_of", parameters: [.i32], results: [.i32], initOnly: false),
        HostFunction(name: "is_self", parameters: [.i32], results: [.i32], initOnly: false),
        HostFunction(name: "count", parameters: [.i32], results: [], initOnly: false),
        HostFunction(name: "state_get", parameters: [.i64, .i64], results: [.i64], initOnly: false),
        HostFunction(name: "state_set", parameters: [.i64, .i64], results: [], initOnly: false),
        HostFunction(name: "log", parameters: [.i32, .i32], results: [], initOnly: false),
    ]

    /// The kinds `bh_kind` returns.
    public enum Kind: Int32 {
        case missing = 0, object, array, string, integer, number, `true`, `false`, null
    }

    /// Bounds on what a module can declare, so a hostile init cannot exhaust the host.
    public static let maxRules = 64
    public static let maxCounters = 64
    public static let maxKeys = 1_024
    public static let maxCollections = 32
    /// Bytes of one declared name or key.
    public static let maxNameBytes = 256
    /// Handles one event call may create.
    public static let maxHandles = 65_536
    /// Bytes kept of one log line, and lines logged per batch.
    public static let maxLogBytes = 200
    public static let maxLogLinesPerBatch = 10
}
