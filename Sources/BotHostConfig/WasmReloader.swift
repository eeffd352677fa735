import BotHost
import BotHostWasm
import Plugins

/// Reloads the WebAssembly plugins of a running host when their files change (or on
/// SIGHUP), as ``PackReloader`` does for packs: a new module is checked, instantiated and
/// initialized in full first; one that fails is refused and the old module keeps running.
public final class WasmReloader {
    /// What a reload decided for one plugin.
    public enum Change: Sendable {
        /// Swap the running plugin `id` for one made from `spec` (on the engine's thread).
        case replace(id: String, spec: WasmPluginSpec, line: String)
        /// The new file was refused; the old module keeps running.
        case refused(String)
    }

    /// The plugins the host runs.
    public private(set) var specs: [WasmPluginSpec]
    private var stamps: [String: [Int64]] = [:]

    public init(specs: [WasmPluginSpec]) {
        self.specs = specs
        for spec in specs { stamps[spec.file.path] = PackReloader.stamp(spec.file.path) }
    }

    public var isEmpty: Bool { specs.isEmpty }

    /// Whether a module file changed (content time, size or inode) since the last look.
    public func filesChanged() -> Bool {
        var changed = false
        for spec in specs {
            let stamp = PackReloader.stamp(spec.file.path)
            if stamp != stamps[spec.file.path] { changed = true }
            stamps[spec.file.path] = stamp
        }
        return changed
    }

    /// Loads every module again; returns a change for each one whose content changed.
    public func reload() -> [Change] {
        var changes: [Change] = []
        for (index, spec) in specs.enumerated() {
            let next: WasmModuleFile
            do {
                next = try WasmModuleFile.load(spec.file.path, name: spec.file.name)
                guard next.versionTag != spec.file.versionTag else { continue }
                let probe = try WasmPlugin(file: next, limits: spec.limits, shadow: spec.shadow)
                let running = try WasmPlugin(file: spec.file, limits: spec.limits, shadow: spec.shadow)
                guard probe.collections == running.collections else {
                    // The subscription would change under a running host: a restart says so plainly.
                    throw WasmPluginError(spec.file.path, "reads other collections (\(probe.collections.joined(separator: ", "))) than the running version (\(running.collections.joined(separator: ", "))); restart the host to change them")
                }
            } catch {
                changes.append(.refused("\(error)"))
                continue
            }
            let id = (spec.shadow ? "shadow:wasm:" : "wasm:") + spec.file.name
            var updated = spec
            updated.file = next
            specs[index] = updated
            changes.append(.replace(id: id, spec: updated, line: "plugin \(id) \(spec.file.versionTag) → \(next.versionTag)"))
        }
        return changes
    }
}
