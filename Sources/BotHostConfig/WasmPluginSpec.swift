import BotHost
import BotHostWasm
import Logging
import Rules
import Yams

/// One `plugins.wasm` entry of the config file:
///
/// ```yaml
/// plugins:
///   wasm:
///     - path: ../wasm-plugin/post_xp.wasm   # relative to the config file
///       name: post_xp                        # default: the file name
///       mode: live                           # or shadow
///       limits: {fuel_per_event: 1000000, memory_pages: 16, batch_time_ms: 1000,
///                quarantine_failures: 20, quarantine_window_seconds: 60}
/// ```
///
/// The module is loaded, checked and initialized when the config is read, so a config
/// naming a broken module is refused at `file:line:col` before the host starts.
public struct WasmPluginSpec: Sendable, Equatable {
    public var file: WasmModuleFile
    public var limits: WasmLimits
    public var shadow: Bool

    public init(file: WasmModuleFile, limits: WasmLimits = WasmLimits(), shadow: Bool = false) {
        self.file = file
        self.limits = limits
        self.shadow = shadow
    }

    public static func == (a: WasmPluginSpec, b: WasmPluginSpec) -> Bool {
        a.file.path == b.file.path && a.file.versionTag == b.file.versionTag && a.file.name == b.file.name
            && a.limits == b.limits && a.shadow == b.shadow
    }

    /// A running plugin; nil (logged) if the module cannot be instantiated now although it
    /// could when the config was read.
    public func instantiate() -> WasmPlugin? {
        do { return try WasmPlugin(file: file, limits: limits, shadow: shadow) } catch {
            Logger(label: "bothost.wasm").error("plugin \(file.name) not started: \(error)")
            return nil
        }
    }

    /// Reads the `plugins` section.
    static func parse(_ node: Node, _ doc: YAMLDocument, file: String) throws(Diagnostic) -> [WasmPluginSpec] {
        let section = try doc.mapping(node, "plugins")
        try doc.rejectUnknownKeys(in: section, allowed: ["wasm"], section: "plugins")
        guard let list = section["wasm"] else { return [] }
        var specs: [WasmPluginSpec] = []
        for item in try doc.sequence(list, "plugins.wasm") {
            let entry = try doc.mapping(item, "a WebAssembly plugin")
            try doc.rejectUnknownKeys(in: entry, allowed: ["path", "name", "mode", "limits"], section: "a plugins.wasm entry")
            guard let pathNode = entry["path"] else { throw doc.error("a plugins.wasm entry needs path: (the .wasm file)", at: item) }
            let path = ConfigPaths.resolve(try doc.string(pathNode, "plugins.wasm[].path"), relativeTo: file)
            let name = try entry["name"].map { n throws(Diagnostic) in try doc.string(n, "plugins.wasm[].name") }
            var shadow = false
            if let modeNode = entry["mode"] {
                let mode = try doc.string(modeNode, "plugins.wasm[].mode")
                guard mode == "live" || mode == "shadow" else { throw doc.error("mode must be live or shadow, got '\(mode)'", at: modeNode) }
                shadow = mode == "shadow"
            }
            var limits = WasmLimits()
            if let limitsNode = entry["limits"] {
                let map = try doc.mapping(limitsNode, "limits")
                try doc.rejectUnknownKeys(in: map, allowed: ["fuel_per_event", "memory_pages", "batch_time_ms", "quarantine_failures", "quarantine_window_seconds"], section: "limits")
                if let v = map["fuel_per_event"] { limits.fuelPerEvent = UInt64(try doc.int(v, "limits.fuel_per_event", in: 1_000...10_000_000_000)) }
                if let v = map["memory_pages"] { limits.memoryPages = Int(try doc.int(v, "limits.memory_pages", in: 1...16_384)) }
                if let v = map["batch_time_ms"] { limits.batchTimeMS = Int(try doc.int(v, "limits.batch_time_ms", in: 1...3_600_000)) }
                if let v = map["quarantine_failures"] { limits.quarantineFailures = Int(try doc.int(v, "limits.quarantine_failures", in: 1...1_000_000)) }
                if let v = map["quarantine_window_seconds"] { limits.quarantineWindowSeconds = Int(try doc.int(v, "limits.quarantine_window_seconds", in: 1...31_536_000)) }
            }
            let module: WasmModuleFile
            do {
                module = try WasmModuleFile.load(path, name: name)
                _ = try WasmPlugin(file: module, limits: limits, shadow: shadow)
            } catch {
                throw doc.error("plugins.wasm: \(error.description)", at: pathNode)
            }
            if specs.contains(where: { $0.file.name == module.name && $0.shadow == shadow }) {
                throw doc.error("two WebAssembly plugins are named '\(module.name)'; give one another name:", at: item)
            }
            specs.append(WasmPluginSpec(file: module, limits: limits, shadow: shadow))
        }
        return specs
    }
}
