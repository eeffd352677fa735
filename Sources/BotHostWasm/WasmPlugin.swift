import BotHost
import Logging
import Metrics

/// A WebAssembly rule plugin: untrusted code that can do exactly what ``WasmABI`` grants.
///
/// Its effects take the path every plugin's do: keyed grants and revocations through
/// ``PluginContext`` (idempotent, revoked on delete, re-graded on update, shadow mode,
/// recorded with the plugin's rule and module hash for `explain`), counters and rule
/// state. They are held back during the call and applied only when it returns 0, so an
/// event that runs out of fuel, traps or asks for too much memory changes nothing. After
/// `quarantineFailures` such events within `quarantineWindowSeconds` of stream time the
/// plugin is quarantined: it is no longer called, and everything else goes on.
public final class WasmPlugin: Plugin {
    public let id: String
    public let collections: [String]
    public let file: WasmModuleFile
    public let limits: WasmLimits
    public let isShadow: Bool
    /// This plugin's own record (also in ``PluginHealth/shared``).
    public private(set) var health = PluginHealth.Record()

    private var sandbox: WasmSandbox
    private var rules: [RuleRef] = []
    private var counters: [CounterRef] = []
    private var stateSlot: CounterRef?
    /// Stream times of the recent failures (for the quarantine window).
    private var recentFailures: [Int64] = []
    private var batch: UInt32 = 0
    private var batchNanoseconds: UInt64 = 0
    private let logger = Logger(label: "bothost.wasm")
    private let failureCounters: [WasmFailure: Counter]

    /// Instantiates and initializes the module.
    /// - Throws: ``WasmPluginError`` when it cannot run (see ``WasmSandbox``).
    public init(file: WasmModuleFile, limits: WasmLimits = WasmLimits(), shadow: Bool = false) throws(WasmPluginError) {
        self.file = file
        self.limits = limits
        self.isShadow = shadow
        id = (shadow ? "shadow:wasm:" : "wasm:") + file.name
        sandbox = try WasmSandbox(file, limits: limits)
        sandbox.call.isShadow = shadow
        collections = sandbox.call.wants
        var counters: [WasmFailure: Counter] = [:]
        for reason in WasmFailure.allCases {
            counters[reason] = Counter(label: "bothost_plugin_failures_total", dimensions: [("plugin", "wasm:" + file.name), ("reason", reason.rawValue)])
        }
        failureCounters = counters
    }

    deinit { sandbox.retire() }

    /// The rules the module declared.
    public var ruleNames: [String] { sandbox.call.rules }
    /// The counters it declared.
    public var counterNames: [String] { sandbox.call.counters }
    /// Log lines of the current batch.
    public var logLines: [String] { sandbox.call.logLines }
    /// The pages of memory the instance has now, and its declared maximum.
    public var memoryPages: (current: Int, declaredMax: UInt64?) { sandbox.memoryPages }

    public func register(in context: PluginContext) {
        let owner = (isShadow ? "shadow:" : "") + "wasm:" + file.name
        rules = sandbox.call.rules.map { context.registerRule(plugin: owner, rule: $0, version: file.versionTag) }
        counters = sandbox.call.counters.map { context.registerCounter($0) }
        stateSlot = context.registerLimitSlot(owner + "/state")
        sandbox.call.stateSlot = stateSlot
    }

    public func handle(_ event: Event, in context: PluginContext) {
        guard let commit = event.commit else { return }
        // A new batch: the time budget starts again.
        if context.batchNumber != batch {
            batch = context.batchNumber
            batchNanoseconds = 0
            sandbox.call.logLines.removeAll()
        }
        if commit.operation == .delete {
            // Revocation on delete is the host's, whatever the module does: a delete of a
            // granted record can never be lost to a failing plugin.
            if isShadow { context.shadowRevoke(rule: rules[0]) } else { context.revoke(rule: rules[0]) }
        }
        guard health.quarantined == nil else {
            note { $0.skipped += 1 }
            return
        }
        guard batchNanoseconds < UInt64(limits.batchTimeMS) * 1_000_000 else {
            fail(.batchTime, "the plugin used its \(limits.batchTimeMS) ms of this batch", at: event.timeUS)
            return
        }
        let call = sandbox.call
        call.begin(event, context)
        let loggedBefore = call.logLines.count
        defer {
            // The module's own lines (bh_log): bounded, made safe for a terminal, logged
            // whether or not the call succeeded.
            for line in call.logLines.dropFirst(loggedBefore) { logger.notice("plugin \(id): \(LogText.safe(line))") }
            call.end()
        }
        let start = ContinuousClock.now
        let outcome: Result<Int32, any Error>
        do { outcome = .success(try sandbox.onEvent(operation: Int32(commit.operation.rawValue), fuel: limits.fuelPerEvent)) } catch { outcome = .failure(error) }
        defer {
            // The call, applying its effects and renewing a trapped instance all count.
            let elapsed = ContinuousClock.now - start
            batchNanoseconds &+= UInt64(elapsed.components.seconds) &* 1_000_000_000 &+ UInt64(elapsed.components.attoseconds / 1_000_000_000)
        }
        switch outcome {
        case .success(0):
            let used = limits.fuelPerEvent - min(limits.fuelPerEvent, sandbox.fuelLeft)
            apply(call.effects, context, time: event.timeUS)
            note { $0.handled += 1; $0.fuelUsed &+= used }
        case .success(let code):
            fail(.error, "bothost_on_event returned \(code)", at: event.timeUS)
        case .failure(let error):
            let reason = WasmSandbox.classify(error)
            fail(reason, WasmSandbox.describe(error), at: event.timeUS)
            if reason != .fuel { renew() }
        }
    }

    /// Applies a clean call's effects through the context.
    private func apply(_ effects: [WasmCall.Effect], _ context: PluginContext, time: Int64) {
        for effect in effects {
            switch effect {
            case .grant(let rule, let amount):
                if isShadow { context.shadowGrant(amount: Int(amount), rule: rules[rule]) } else { context.grant(amount: Int(amount), rule: rules[rule]) }
            case .revoke(let rule):
                if isShadow { context.shadowRevoke(rule: rules[rule]) } else { context.revoke(rule: rules[rule]) }
            case .count(let counter):
                context.increment(counters[counter], bucketStart: time / 86_400_000_000 * 86_400)
            case .stateSet(let key, let value):
                if let stateSlot { context.setLimit(stateSlot, .value, key: key, value) }
            }
        }
    }

    /// Counts a failed event and quarantines the plugin past its limit.
    private func fail(_ reason: WasmFailure, _ detail: String, at timeUS: Int64) {
        failureCounters[reason]?.increment()
        note { $0.failures[reason.rawValue, default: 0] += 1 }
        let window = Int64(limits.quarantineWindowSeconds) * 1_000_000
        recentFailures.append(timeUS)
        recentFailures.removeAll { $0 < timeUS - window }
        if recentFailures.count >= limits.quarantineFailures {
            let why = "\(recentFailures.count) failed events within \(limits.quarantineWindowSeconds) s of stream time (last: \(reason.rawValue): \(detail))"
            note { $0.quarantined = why }
            logger.error("plugin \(id) quarantined: \(why); its events are skipped until it is reloaded or the host restarts")
        } else if health.failures.values.reduce(0, +) <= 10 {
            logger.warning("plugin \(id): an event lost its effects (\(reason.rawValue): \(detail))")
        }
    }

    /// A fresh instance after a trap: the guest's memory may be half-written. The module
    /// was instantiated and initialized before, so this succeeds unless its init depends
    /// on something that changed; then the plugin is quarantined.
    private func renew() {
        do {
            let fresh = try WasmSandbox(file, limits: limits)
            guard fresh.call.rules == sandbox.call.rules, fresh.call.counters == sandbox.call.counters, fresh.call.wants == sandbox.call.wants else {
                throw WasmPluginError(file.path, "declared other rules, counters or collections when instantiated again")
            }
            fresh.call.isShadow = isShadow
            fresh.call.stateSlot = stateSlot
            fresh.call.logLines = sandbox.call.logLines
            sandbox.retire()
            sandbox = fresh
        } catch {
            note { $0.quarantined = "could not be instantiated again after a trap: \(error)" }
            logger.error("plugin \(id) quarantined: could not be instantiated again after a trap: \(error)")
        }
    }

    private func note(_ change: (inout PluginHealth.Record) -> Void) {
        change(&health)
        PluginHealth.shared.update(id, change)
    }
}
