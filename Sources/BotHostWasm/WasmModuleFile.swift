import BotHost
import Plugins
import WasmKit

/// A checked WebAssembly plugin file: parsed, its imports and exports matched against
/// ``WasmABI``. Checking happens before anything runs, so a module that could not work
/// is refused with what is wrong instead of failing on its first event.
public struct WasmModuleFile: Sendable {
    public let path: String
    /// The plugin's name: the file name without `.wasm` (or the config's `name`).
    public let name: String
    /// `wasm+FNV64(bytes)`: recorded with every ledger entry, so two builds never share it.
    public let versionTag: String
    public let module: Module
    public let byteCount: Int
    /// Host functions the module imports, by name.
    public let imports: [String]
    /// Everything it exports, by name.
    public let exports: [String]

    /// Loads and checks `path`.
    /// - Throws: ``WasmPluginError`` naming the file and what was expected.
    public static func load(_ path: String, name: String? = nil) throws(WasmPluginError) -> WasmModuleFile {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path) } catch { throw WasmPluginError(path, "cannot read the file (\(error))") }
        return try check(bytes: bytes, path: path, name: name)
    }

    /// Checks a module's bytes; `path` names it in errors.
    public static func check(bytes: [UInt8], path: String, name: String? = nil) throws(WasmPluginError) -> WasmModuleFile {
        guard bytes.count <= 16 << 20 else { throw WasmPluginError(path, "the module is \(bytes.count) bytes; at most 16 MiB are accepted") }
        guard bytes.starts(with: [0x00, 0x61, 0x73, 0x6D]) else { throw WasmPluginError(path, "not a WebAssembly module (no \\0asm header)") }
        let module: Module
        do { module = try parseWasm(bytes: bytes) } catch { throw WasmPluginError(path, "not a valid WebAssembly module: \(error)") }
        var imports: [String] = []
        let known = Set(WasmABI.hostFunctions.map(\.name))
        for entry in module.imports {
            let label = "\(entry.module).\(entry.name)"
            guard entry.module == WasmABI.importModule, case .function = entry.descriptor, known.contains(entry.name) else {
                throw WasmPluginError(path, "imports \(label), which BotHost does not provide; ABI \(WasmABI.version) provides only functions of module \"bothost\": \(WasmABI.hostFunctions.map(\.name).joined(separator: ", "))")
            }
            imports.append(entry.name)
        }
        let exports = module.exports.map(\.name)
        for required in WasmABI.requiredExports where !exports.contains(required) {
            throw WasmPluginError(path, "does not export \(required); a plugin exports \(WasmABI.requiredExports.joined(separator: ", "))")
        }
        for export in module.exports {
            switch (export.name, export.descriptor) {
            case ("memory", .memory), ("bothost_abi_version", .function), ("bothost_init", .function), ("bothost_on_event", .function): continue
            case ("memory", _), ("bothost_abi_version", _), ("bothost_init", _), ("bothost_on_event", _):
                throw WasmPluginError(path, "exports \(export.name) as the wrong kind of thing")
            default: continue
            }
        }
        let stem = String(path.split(separator: "/").last ?? Substring(path)).replacingSuffix(".wasm")
        let pluginName = name ?? stem
        guard !pluginName.isEmpty, pluginName.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }) else {
            throw WasmPluginError(path, "the plugin name '\(pluginName)' must be letters, digits, - and _ (name it in the config with name:)")
        }
        let hex = String(FNV1a.hash(bytes), radix: 16)
        return WasmModuleFile(path: path, name: pluginName, versionTag: "wasm+" + String(repeating: "0", count: 16 - hex.count) + hex,
                              module: module, byteCount: bytes.count, imports: imports, exports: exports)
    }
}

/// A plugin refused at load: the file and what was expected.
public struct WasmPluginError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): error: \(message)" }
}

extension String {
    fileprivate func replacingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
