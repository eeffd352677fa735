import BotHost
import BotHostConfig
import BotHostWasm
import CoreMetrics
import Logging
import Plugins
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Reloads the rule packs of a live `bothost run` when their files change or on SIGHUP.
/// A refused version is logged with its `file:line:col` and the previous one keeps
/// running; an accepted one is swapped in between two events (docs/rules.md).
final class PackWatchService: Service, @unchecked Sendable {
    private let reloader: PackReloader  // only touched by run()'s polling task
    private let wasm: WasmReloader  // likewise
    private let host: LiveHost
    private let configuration: BotHostConfiguration
    private let logger: Logger
    private let hangup = Atomic<Bool>(false)
    private let reloads = Counter(label: "bothost_pack_reloads_total", dimensions: [("result", "ok")])
    private let refusals = Counter(label: "bothost_pack_reloads_total", dimensions: [("result", "refused")])

    init(reloader: PackReloader, wasm: WasmReloader, host: LiveHost, configuration: BotHostConfiguration, logger: Logger) {
        self.reloader = reloader
        self.wasm = wasm
        self.host = host
        self.configuration = configuration
        self.logger = logger
    }

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in signals { self.hangup.store(true, ordering: .relaxed) }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(250))
                        let requested = self.hangup.exchange(false, ordering: .relaxed)
                        let packsChanged = self.reloader.filesChanged()
                        let modulesChanged = self.wasm.filesChanged()
                        if packsChanged || (requested && !self.reloader.paths.isEmpty) || (requested && self.wasm.isEmpty) { self.reload(requested: requested) }
                        if modulesChanged || (requested && !self.wasm.isEmpty) { self.reloadModules() }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// WebAssembly plugins whose files changed: each is checked and initialized in full
    /// before it replaces the running one between two events.
    private func reloadModules() {
        for change in wasm.reload() {
            switch change {
            case .refused(let message):
                refusals.increment()
                logger.error("WebAssembly plugin refused; the previous version keeps running:\n\(message)")
            case .replace(let id, let spec, let line):
                reloads.increment()
                host.perform { engine in
                    guard let plugin = spec.instantiate() else { return }
                    _ = engine.replacePlugin(id: id, with: plugin)
                }
                logger.notice("WebAssembly plugin reloaded: \(line)")
            }
        }
    }

    private func reload(requested: Bool) {
        guard !reloader.paths.isEmpty else {
            logger.notice("SIGHUP: no rule pack files were given (--pack), nothing to reload")
            return
        }
        let (outcome, previous) = reloader.reload()
        switch outcome {
        case .unchanged:
            if requested { logger.notice("rule packs reloaded: no change") }
        case .refused(let message):
            refusals.increment()
            logger.error("rule pack refused; the previous version keeps running (version \(reloader.current.live.versionTag)):\n\(message)")
        case .reloaded(let change):
            reloads.increment()
            guard let previous else { return }
            let next = reloader.current
            let configuration = self.configuration
            host.perform { engine in PackReloader.apply(next, replacing: previous, to: engine, configuration: configuration) }
            host.updateCollections(configuration.wantedCollections(configuration.makePlugins(packs: next)))
            logger.notice("rule packs reloaded: \(change)")
        }
    }
}
