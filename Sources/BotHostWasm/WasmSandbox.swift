@_spi(Fuzzing) import WasmKit
import BotHost
import Plugins

/// One instance of a plugin module in a store of its own, with the host functions of
/// ``WasmABI`` bound to a ``WasmCall``. Not thread-safe: used by the host's applying
/// thread only, like every plugin.
final class WasmSandbox {
    /// Fuel metering and software bounds checks: a guest's memory is checked on every
    /// access rather than guarded by a 4 GiB reservation and signal handlers.
    static let engine = Engine(configuration: EngineConfiguration(
        compilationMode: .eager, memoryBoundsChecking: .software, fuelMetering: true))

    let store: Store
    let instance: Instance
    let memory: Memory
    let onEvent: Function
    let call: WasmCall
    let limiter: PageLimiter
    private var stack: ExecutionStack

    /// Instantiates `file` and runs its `bothost_abi_version` and `bothost_init`.
    /// - Throws: ``WasmPluginError`` when the module cannot be instantiated, speaks
    ///   another ABI version, or its init fails.
    init(_ file: WasmModuleFile, limits: WasmLimits) throws(WasmPluginError) {
        store = Store(engine: Self.engine)
        limiter = PageLimiter(maxPages: limits.memoryPages)
        store.resourceLimiter = limiter
        call = WasmCall()
        var imports = Imports()
        for function in WasmABI.hostFunctions {
            imports.define(module: WasmABI.importModule, name: function.name,
                           Function(store: store, parameters: function.parameters, results: function.results,
                                    raw: Self.body(function.name, call: call, initOnly: function.initOnly)))
        }
        // Instantiation runs the module's start function and data segments: metered too.
        store.fuel = Fuel(remaining: limits.fuelPerEvent &* 10)
        let instance: Instance
        do { instance = try file.module.instantiate(store: store, imports: imports) } catch let error as WasmMemoryLimitExceeded {
            throw WasmPluginError(file.path, "starts with \(error.pages) pages of memory; its limit is \(limits.memoryPages) (limits.memory_pages)")
        } catch {
            throw WasmPluginError(file.path, "cannot be instantiated: \(Self.describe(error))")
        }
        guard let memory = instance.exports[memory: "memory"],
              let version = instance.exports[function: "bothost_abi_version"],
              let initialize = instance.exports[function: "bothost_init"],
              let onEvent = instance.exports[function: "bothost_on_event"] else {
            throw WasmPluginError(file.path, "does not export \(WasmABI.requiredExports.joined(separator: ", "))")
        }
        guard version.type.parameters.isEmpty, version.type.results == [.i32],
              initialize.type.parameters.isEmpty, initialize.type.results == [.i32],
              onEvent.type.parameters == [.i32], onEvent.type.results == [.i32] else {
            throw WasmPluginError(file.path, "exports with the wrong signatures; expected bothost_abi_version() -> i32, bothost_init() -> i32, bothost_on_event(i32) -> i32")
        }
        guard memory.type.min <= UInt64(limits.memoryPages) else {
            throw WasmPluginError(file.path, "starts with \(memory.type.min) pages of memory; its limit is \(limits.memoryPages) (limits.memory_pages)")
        }
        self.instance = instance
        self.memory = memory
        self.onEvent = onEvent
        call.memory = memory
        stack = ExecutionStack(engine: Self.engine)
        do {
            guard case .i32(let abi)? = try version.invoke([], on: &stack).first else { throw WasmHostTrap("no result") }
            guard Int32(bitPattern: abi) == WasmABI.version else {
                throw WasmPluginError(file.path, "was built for ABI version \(Int32(bitPattern: abi)); this host speaks version \(WasmABI.version)")
            }
            call.phase = .initializing
            defer { call.phase = .idle }
            guard case .i32(let code)? = try initialize.invoke([], on: &stack).first else { throw WasmHostTrap("no result") }
            guard code == 0 else { throw WasmPluginError(file.path, "bothost_init returned \(Int32(bitPattern: code))") }
        } catch let error as WasmPluginError {
            call.memory = nil
            throw error
        } catch {
            call.memory = nil
            throw WasmPluginError(file.path, "bothost_init failed: \(Self.describe(error))")
        }
        guard !call.wants.isEmpty else { throw WasmPluginError(file.path, "bothost_init declared no collection (bh_want)") }
        guard !call.rules.isEmpty else { throw WasmPluginError(file.path, "bothost_init declared no rule (bh_rule)") }
    }

    /// Breaks the reference cycle between the store and the host functions.
    func retire() {
        call.memory = nil
    }

    /// Calls `bothost_on_event` with `fuel`; returns its code, or throws what stopped it.
    func onEvent(operation: Int32, fuel: UInt64) throws -> Int32 {
        store.fuel = Fuel(remaining: fuel)
        limiter.exceeded = nil
        do {
            let results = try onEvent.invoke([.i32(UInt32(bitPattern: operation))], on: &stack)
            if let exceeded = limiter.exceeded { throw exceeded }
            guard case .i32(let code)? = results.first else { return -1 }
            return Int32(bitPattern: code)
        } catch {
            if let exceeded = limiter.exceeded { throw exceeded }
            throw error
        }
    }

    /// The pages of memory the instance has now, and its declared maximum.
    var memoryPages: (current: Int, declaredMax: UInt64?) { (memory.byteCount / 65_536, memory.type.max) }

    /// Fuel left after the last call.
    var fuelLeft: UInt64 { store.fuel?.remaining ?? 0 }

    /// What stopped a call, as a failure reason.
    static func classify(_ error: any Error) -> WasmFailure {
        switch error {
        case is WasmMemoryLimitExceeded: return .memory
        case is WasmHostOutOfFuel: return .fuel
        default:
            return String(describing: error).contains("out of fuel") ? .fuel : .trap
        }
    }

    /// A short description of what stopped a call (no backtrace).
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return String(text.split(separator: "\n").first ?? Substring(text))
    }
}

/// Refuses memory growth past a number of pages: `memory.grow` then traps the call
/// (the error is reported as `memory`), rather than returning -1 to a guest that may
/// not check it.
final class PageLimiter: ResourceLimiter, @unchecked Sendable {
    let maxPages: Int
    /// Set when a growth was refused during the current call.
    var exceeded: WasmMemoryLimitExceeded?

    init(maxPages: Int) { self.maxPages = maxPages }

    func limitMemoryGrowth(to desired: Int) throws -> Bool {
        let pages = (desired + 65_535) / 65_536
        guard pages <= maxPages else {
            let error = WasmMemoryLimitExceeded(pages: pages, limit: maxPages)
            exceeded = error
            throw error
        }
        return true
    }

    func limitTableGrowth(to desired: Int) throws -> Bool { desired <= 10_000 }
}
