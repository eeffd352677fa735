import ArgumentParser
import BotHost
import Plugins
import Rules

#if canImport(Glibc)
import Glibc
#endif

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Play a capture through the rules into the database.",
        discussion: """
            CAPTURE is JSON lines (.jsonl), zstd-compressed JSON lines (.jsonl.zst) or - for stdin.
            Malformed lines are counted and skipped with their line number and reason.
            Replaying the same capture again changes nothing.
            """)

    @Argument(help: "Capture file (.jsonl, .jsonl.zst) or - for standard input.")
    var capture: String

    @OptionGroup var database: DatabaseOptions

    @Option(name: .long, help: "YAML config file (defaults: the leveling spec).")
    var config: String?

    @Flag(name: .long, help: "Never post anything (announcements stay queued in the outbox).")
    var dryRun = false

    @Option(name: .long, help: "Events per committed batch (overrides store.batch_size).")
    var batchSize: Int?

    @Option(name: .long, help: "Summary format: table or json.")
    var format: OutputFormat = .table

    @Flag(name: .long, help: "No progress line.")
    var quiet = false

    func run() throws {
        let configuration = try loadConfiguration(config)
        let store = try openStore(database.db)
        guard let lock = HostLock(databasePath: database.db) else {
            throw CLIError("\(database.db) is in use by another bothost replay or run; stop it first")
        }
        defer { withExtendedLifetime(lock) {} }
        let context = configuration.makeContext()
        try store.load(into: context)
        let engine = HostEngine(context: context, plugins: configuration.makePlugins())
        var shown = 0
        engine.onMalformed = { line, error in
            shown += 1
            if shown <= 20 { printError("line \(line): skipped: \(error.reason.rawValue): \(error.detail)") }
            if shown == 21 { printError("(more malformed lines are counted in the summary)") }
        }
        let reader: LineReader
        do { reader = try openCapture(capture) } catch { throw CLIError(error.description) }
        let terminal = isatty(2) != 0 && !quiet
        let replayer = Replayer(engine: engine, store: store, options: .init(
            batchSize: batchSize ?? configuration.store.batchSize, progressInterval: terminal ? 0.5 : nil))
        let summary: Replayer.Summary
        do {
            summary = try replayer.run(reader) { progress in
                printError(ProgressLine.render(progress), terminator: "")
            }
        } catch let error as CaptureError {
            throw CLIError(error.description)
        } catch {
            throw CLIError(StoreError.describing(error, path: database.db).description)
        }
        if terminal { printError("\r\u{1B}[K", terminator: "") }
        SummaryPrinter.print(summary, format: format, db: database.db, dryRun: dryRun)
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
    print(text, terminator: terminator, to: &stderr)
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
