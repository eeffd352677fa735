import ArgumentParser
import XRPCClient
import BotHost
import BotHostConfig
import BotHostStores
import BotHostSQLite
import BotHostPostgres
import Foundation
import Plugins
import Rules

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Play a capture through the rules into the database.",
        discussion: """
            CAPTURE is JSON lines (.jsonl), zstd-compressed JSON lines (.jsonl.zst) or - for stdin.
            Malformed lines are counted and skipped with their line number and reason.
            Replaying the same capture again changes nothing.

            Without --dry-run, and with a bot account (BOTHOST_PDS, BOTHOST_IDENTIFIER and
            BOTHOST_APP_PASSWORD, or the config's bot section), the outbox is dispatched while
            the capture plays and, when it ends, until nothing sendable is pending.
            """)

    @Argument(help: "Capture file (.jsonl, .jsonl.zst) or - for standard input.")
    var capture: String

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "K/N: with N hosts sharing one PostgreSQL store, this host writes the accounts whose DID hashes to K (counted from 0). Every host plays the whole capture, so rules that read other accounts stay exact; each keeps its own cursor.")
    var partition: String?

    @Option(name: .long, help: "YAML config file (defaults: the leveling spec).")
    var config: String?

    @Flag(name: .long, help: "Never post anything: print what would be posted (announcements stay queued).")
    var dryRun = false

    @Option(name: .long, help: "Rule pack file (repeatable): a live pack runs instead of the built-in leveling pack, a pack with mode: shadow runs beside it (docs/rules.md).")
    var pack: [String] = []

    @Option(name: .long, help: "Decode workers (default: cores minus 2, at least 1: the applier and the writer hold a core each). Events are applied in file order whatever the number, so results never depend on it.")
    var workers: Int?

    @Flag(name: .customLong("swift-leveling"), help: .hidden)
    var swiftLeveling = false

    @Option(name: .long, help: "Events per committed batch (overrides store.batch_size).")
    var batchSize: Int?

    @Option(name: .long, help: "Summary format: table or json.")
    var format: OutputFormat = .table

    @Flag(name: .long, help: "No progress line.")
    var quiet = false

    func run() async throws {
        var configuration = try loadConfiguration(config)
        let packs: PackSelection
        do { packs = try PackSelection.load(pack, amounts: configuration.leveling.amounts) } catch { throw CLIError("\(error)") }
        configuration.adopt(packs)
        let host = try database.openHost(partition: self.partition, configURL: configuration.store.url)
        let (location, partition, store) = (host.location, host.partition, host.store)
        defer { withExtendedLifetime(host) {} }
        let dryRun = self.dryRun || configuration.bot.dryRun
        let quiet = self.quiet
        let log: @Sendable (String) -> Void = { message in if !quiet { printError(message) } }
        // The outbox preview and counts of a dry run, as before, for a SQLite file only
        // (a shared PostgreSQL outbox holds other partitions' messages too).
        let ownOutbox: (any BotHostStore)? = location.isPostgres ? nil : store
        // The dispatcher has a connection of its own on PostgreSQL (claims with SKIP LOCKED,
        // so the dispatchers of several partitioned hosts share one outbox).
        let delivery = dryRun ? nil : try await BotDeliverySetUp.setUp(&configuration, store: try location.openOutbox(store, partition: partition), log: log)
        // The labeler (docs/labels.md): its key and tiers are checked before the replay starts.
        let labeler = try LabelerSetUp.make(configuration)
        // Fail on a missing or unreadable capture before anything else happens.
        do { _ = try openCapture(capture) } catch { throw CLIError(error.description) }
        let capture = self.capture
        let swiftLeveling = self.swiftLeveling
        let terminal = isatty(2) != 0 && !quiet
        let options = Replayer.Options(batchSize: batchSize ?? configuration.store.batchSize, progressInterval: terminal ? 0.5 : nil,
                                      workers: workers ?? ProcessorCount.defaultDecodeWorkers)

        // The replay is CPU-bound and blocking: it runs on its own thread, so the
        // dispatcher's tasks keep the cooperative pool.
        let finished = LockedBox(false)
        let dispatching = delivery.map { delivery in
            Task { await delivery.dispatcher.run(stop: { finished.value }) }
        }
        let frozen = configuration
        let outcome: Result<Replayer.Summary, CLIError> = await runOnThread {
            let engine: HostEngine
            do {
                engine = try frozen.makeEngine(store: store, packs: packs, partition: partition, live: false,
                                               plugins: frozen.makePlugins(packs: packs, swiftLeveling: swiftLeveling))
            } catch {
                return .failure(CLIError("\(error)"))
            }
            var shown = 0
            engine.onMalformed = { line, error in
                shown += 1
                if shown <= 20 { printError("line \(line): skipped: \(error.reason.rawValue): \(error.detail)") }
                if shown == 21 { printError("(more malformed lines are counted in the summary)") }
            }
            engine.limits.onReport = { limit, count, detail in
                printError("limit \(limit.rawValue) reached (\(count)×): \(limit.reason)\(detail.isEmpty ? "" : " [\(LogText.safe(detail))]")")
            }
            let replayer = Replayer(engine: engine, store: store, options: options)
            do {
                let reader = try openCapture(capture)
                return .success(try replayer.run(reader) { progress in
                    printError(ProgressLine.render(progress), terminator: "")
                })
            } catch let error as CaptureError {
                return .failure(CLIError(error.description))
            } catch {
                return .failure(CLIError(store.describe(error).description))
            }
        }
        finished.value = true
        await dispatching?.value
        if terminal { printError("\r\u{1B}[K", terminator: "") }
        let summary = try outcome.get()
        // The labeler's pass over what the replay changed (docs/labels.md).
        if let labeler {
            switch await LabelerSetUp.pass(labeler, store) {
            case .success(let pass): if !quiet { printError(LabelerSetUp.describe(pass)) }
            case .failure(let error): throw CLIError("labeler: \(store.describe(error).description)")
            }
        }
        // Untrusted plugins' failures, for `bothost status` and this summary.
        let health = PluginHealth.shared.snapshot()
        if !health.isEmpty, let outbox = try? location.openOutbox(store, partition: partition) {
            if let error = PluginHealth.shared.persist(to: outbox) { printError("plugin health not stored: \(error)") }
        }
        if !quiet && format == .table {
            for (plugin, record) in health.sorted(by: { $0.key < $1.key }) { printError(PluginHealth.line(plugin, record)) }
        }
        if let delivery {
            await delivery.dispatcher.drain()
            let totals = delivery.dispatcher.totals.value
            if !quiet {
                printError("outbox: \(totals.sent) sent, \(totals.failed) failed, \(totals.cancelled) cancelled, \(totals.skipped) skipped")
            }
        } else if dryRun && format == .table, let ownOutbox {
            for line in try OutboxPreview.lines(store: ownOutbox, configuration: configuration, limit: 20) { print(line) }
        }
        SummaryPrinter.print(summary, format: format, db: location.display + (partition.isPartial ? " (partition \(partition))" : ""),
                             dryRun: dryRun, outbox: try? ownOutbox?.outboxCounts())
    }
}

/// Runs blocking work on a dedicated thread and awaits its result.
func runOnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Loads the config file, or the defaults when none is given.
func loadConfiguration(_ path: String?) throws -> BotHostConfiguration {
    guard let path else { return BotHostConfiguration() }
    do {
        return try BotHostConfiguration.load(path: path)
    } catch let diagnostic as Diagnostic {
        throw CLIError(diagnostic.description)
    } catch {
        throw CLIError("\(error)")
    }
}

/// Opens the store, turning its errors into clear CLI messages.
func openStore(_ path: String, readOnly: Bool = false) throws -> Store {
    do {
        return try Store(path: path, readOnly: readOnly)
    } catch let error as StoreError {
        throw CLIError(error.description)
    }
}

func printError(_ text: String, terminator: String) {
    var stderr = StandardError()
    print(Redact.secrets(in: text), terminator: terminator, to: &stderr)
}
enum ProgressLine {
    static func render(_ p: Replayer.Progress) -> String {
        let rate = p.elapsed > 0 ? Double(p.events) / p.elapsed : 0
        var text = "\r\u{1B}[K  line \(Format.grouped(p.lines))  \(Format.grouped(Int(rate))) events/s"
        if let total = p.totalBytes, total > 0 {
            let fraction = min(1, Double(p.bytesConsumed) / Double(total))
            let eta = fraction > 0 ? p.elapsed * (1 - fraction) / fraction : 0
            text += "  \(Format.fixed(fraction * 100, 1))%  ETA \(Format.duration(eta))"
        }
        return text
    }
}
