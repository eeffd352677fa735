import ArgumentParser
import BotHost
import Logging

struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Capture Jetstream events verbatim to .jsonl or .jsonl.zst (for fixtures and replay).")

    @Option(name: .long, help: "Output file (.jsonl or .jsonl.zst; - for stdout).")
    var out: String

    @Option(name: .long, help: "Jetstream URL (repeat for failover). Default: the public v1 hosts.")
    var jetstream: [String] = []

    @Flag(name: .long, help: "Accept plain-text ws:// Jetstream URLs for hosts other than loopback (anyone on the path could feed events).")
    var allowPlaintextJetstream = false

    @Option(name: .long, parsing: .upToNextOption, help: "Collections (NSIDs or prefix.*).")
    var collections: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Repositories.")
    var dids: [String] = []

    @Option(name: .long, help: "Stop after this many events.")
    var count: Int?

    @Option(name: .long, help: "Stop after this many seconds.")
    var duration: Double?

    @Option(name: .long, help: "Start at this cursor (unix microseconds).")
    var cursor: Int64?

    @Option(name: .long, help: "Stop after this many seconds without an event.")
    var exitIdle: Double?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func validate() throws {
        if count == nil && duration == nil && exitIdle == nil {
            throw ValidationError("give --count, --duration or --exit-idle so the recording ends")
        }
    }

    func run() async throws {
        Log.bootstrap(level: logLevel)
        let logger = Logger(label: "bothost.record")
        let urls = jetstream.isEmpty ? JetstreamEndpoint.publicHosts : jetstream
        let endpoints: [JetstreamEndpoint]
        do { endpoints = try urls.map { url throws(CaptureError) in try JetstreamEndpoint(url, allowPlaintext: allowPlaintextJetstream) } } catch { throw CLIError(error.description) }
        let writer: CaptureWriter
        do { writer = try CaptureWriter(path: out) } catch { throw CLIError(error.description) }
        var configuration = JetstreamConnector.Configuration(
            endpoints: endpoints, subscription: JetstreamSubscription(collections: collections, dids: dids, compress: true))
        configuration.rewindUS = 0
        let recorder = JetstreamRecorder(configuration: configuration, logger: logger)
        let recorded = try await recorder.record(into: writer, cursor: cursor, count: count, duration: duration, exitIdle: exitIdle)
        do { try writer.finish() } catch { throw CLIError(error.description) }
        logger.info("recorded", metadata: ["events": "\(recorded.events)", "malformed_skipped": "\(recorded.malformed)", "out": "\(out)"])
    }
}
