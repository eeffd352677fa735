import ArgumentParser
import BotHost
import BotHostConfig
import BotHostLabels
import BotHostStores
import Logging
import BotHostHTTP
import BotHostPostgres
import Plugins
import Rules
import ServiceLifecycle
import UnixSignals

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Follow Jetstream live and apply every event through the rules.",
        discussion: """
            Resumes from the stored cursor minus the rewind (default 5 s), reconnects with backoff and
            fails over across hosts, and shuts down gracefully on SIGINT/SIGTERM (the batch in hand is
            committed with its cursor). A URL ending in /xrpc/network.bsky.jetstream.subscribeEvents
            speaks the v2 wire; any other path speaks v1 (/subscribe).
            """)

    @Option(name: .long, help: "YAML config file.")
    var config: String?

    @Option(name: .long, help: "Rule pack file (repeatable): a live pack runs instead of the built-in leveling pack, a pack with mode: shadow runs beside it (docs/rules.md).")
    var pack: [String] = []

    @Option(name: .long, help: "Jetstream URL (repeat for failover; ws:// allowed for loopback). Default: the public v1 hosts.")
    var jetstream: [String] = []

    @Flag(name: .long, help: "Accept plain-text ws:// Jetstream URLs for hosts other than loopback (anyone on the path could feed events).")
    var allowPlaintextJetstream = false

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "K/N: with N hosts sharing one PostgreSQL store, this host writes the accounts whose DID hashes to K (counted from 0), with its own cursor; it resumes a hot window before it, so what its rules read of other partitions' accounts is rebuilt (docs/scaling.md).")
    var partition: String?

    @Flag(name: .long, help: "Never post anything.")
    var dryRun = false

    @Option(name: .long, help: "Exit 0 after this many seconds without an event while connected.")
    var exitIdle: Double?

    @Option(name: .long, help: "Seconds a resume from the stored cursor goes back (overrides jetstream.rewind_seconds).")
    var rewind: Double?

    @Flag(name: .long, help: "Ask for uncompressed (text) frames.")
    var noCompress = false

    @Option(name: .long, help: "Seconds without a frame after which the socket is treated as dead.")
    var deadSocketTimeout: Double = 60

    @Option(name: .long, help: "Also serve the HTTP API (and /metrics) on this port.")
    var httpPort: Int?

    @Option(name: .long, help: "Address the HTTP API binds.")
    var httpHost: String = "127.0.0.1"

    @Option(name: .long, help: "File (mode 0600) with the admin API's bearer token (default: $BOTHOST_ADMIN_TOKEN; none: read-only).")
    var adminTokenFile: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Summary format: table or json.")
    var format: OutputFormat = .table

    func run() async throws {
        Log.bootstrap(level: logLevel)
        let logger = Logger(label: "bothost")
        var configuration = try loadConfiguration(config)
        let packs: PackSelection
        do { packs = try PackSelection.load(pack, amounts: configuration.leveling.amounts) } catch { throw CLIError("\(error)") }
        configuration.adopt(packs)
        let held = try database.openHost(partition: self.partition, configURL: configuration.store.url)
        let (location, partition, store) = (held.location, held.partition, held.store)
        defer { withExtendedLifetime(held) {} }
        let dryRun = self.dryRun || configuration.bot.dryRun
        let delivery = dryRun ? nil : try await BotDeliverySetUp.setUp(&configuration, store: try location.openOutbox(store, partition: partition),
                                                                  log: { logger.notice("\($0)") })
        let plugins = configuration.makePlugins(packs: packs)
        let engine: HostEngine
        do { engine = try configuration.makeEngine(store: store, packs: packs, partition: partition, live: true, plugins: plugins) } catch {
            throw CLIError("\(error)")
        }
        let context = engine.context
        var shown = 0
        engine.onMalformed = { line, error in
            shown += 1
            if shown <= 20 { logger.warning("malformed frame skipped", metadata: ["frame": "\(line)", "reason": "\(error.reason.rawValue)", "detail": "\(error.detail)"]) }
        }
        engine.limits.onReport = { limit, count, detail in
            logger.warning("limit reached", metadata: ["limit": "\(limit.rawValue)", "reason": "\(limit.reason)", "count": "\(count)",
                                                       "detail": "\(LogText.safe(detail))"])
        }
        let urls = !jetstream.isEmpty ? jetstream : (!configuration.jetstream.hosts.isEmpty ? configuration.jetstream.hosts : JetstreamEndpoint.publicHosts)
        let endpoints: [JetstreamEndpoint]
        do { endpoints = try urls.map { url throws(CaptureError) in try JetstreamEndpoint(url, allowPlaintext: allowPlaintextJetstream) } } catch { throw CLIError(error.description) }
        let subscription = JetstreamSubscription(
            collections: configuration.wantedCollections(plugins), dids: configuration.jetstream.wantedDids,
            compress: configuration.jetstream.compress && !noCompress)
        var connector = JetstreamConnector.Configuration(endpoints: endpoints, subscription: subscription)
        connector.rewindUS = Int64((rewind ?? configuration.jetstream.rewindSeconds) * 1_000_000)
        if partition.isPartial {
            // Resume a hot window back: this host's events there are duplicates (dropped by
            // rev); other partitions' rebuild what this host's rules read of them.
            connector.rewindUS = max(connector.rewindUS,
                                     context.cursorUS - PostgresStore.warmUpStartUS(cursorUS: context.cursorUS, horizonUS: context.residency.hotGrantHorizonUS))
        }
        connector.deadSocketTimeout = deadSocketTimeout
        var options = LiveHost.Options()
        options.exitIdle = exitIdle
        options.batchSize = configuration.jetstream.batchSize
        options.maxBatchDelay = Double(configuration.jetstream.batchDelayMS) / 1000
        options.catchUpBatchSize = configuration.store.batchSize
        let host = LiveHost(engine: engine, store: store, connector: connector, options: options, logger: logger)
        let summary = LockedBox<LiveHost.Summary?>(nil)
        let service = SummaryService(host: host, summary: summary)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let delivery {
            services.append(.init(service: DispatcherService(dispatcher: delivery.dispatcher)))
            // The names of the accounts the leaderboards show, with the bot's session.
            let resolver = ProfileResolver(store: store, client: delivery.client)
            services.append(.init(service: NamesService(resolver: resolver, reader: try location.openReader(), logger: logger)))
        }
        // Hot reload: a changed pack file or SIGHUP reloads the packs; a refused one keeps
        // the previous version running.
        let reloader = PackReloader(paths: pack, current: packs, amounts: configuration.leveling.amounts)
        services.append(.init(service: PackWatchService(reloader: reloader, wasm: WasmReloader(specs: configuration.wasmPlugins),
                                                        host: host, configuration: configuration, logger: logger)))
        if !configuration.wasmPlugins.isEmpty {
            services.append(.init(service: PluginHealthService(store: try location.openOutbox(store, partition: partition), logger: logger)))
        }
        if let labeler = try LabelerSetUp.make(configuration) {
            services.append(.init(service: LabelerService(labeler: labeler, store: store,
                                                          interval: .seconds(configuration.labeler?.intervalSeconds ?? 5), logger: logger)))
        }
        if let httpPort {
            let registry = APIServer.bootstrapMetrics()
            let reader = try location.openReader()
            let token = try AdminToken.load(file: adminTokenFile)
            let api = APIServer(store: reader, curve: configuration.leveling.progression.curve, registry: registry,
                                adminToken: token, adminStore: token == nil ? nil : store as? any ModerationWriting,
                                seasons: configuration.seasons)
            services.append(.init(service: api.application(host: httpHost, port: httpPort, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        logger.info("following Jetstream", metadata: [
            "hosts": "\(endpoints.map(\.description))", "collections": "\(subscription.collections)",
            "cursor_us": "\(context.cursorUS)", "dry_run": "\(dryRun)",
        ])
        do {
            try await group.run()
        } catch {
            throw CLIError(store.describe(error).description)
        }
        if let result = summary.value { RunSummaryPrinter.print(result, format: format, db: location.display) }
    }
}

/// Posts what the outbox holds while the host runs; stops on graceful shutdown (a
/// message in flight is finished or left to be looked up by its key on restart).
struct DispatcherService: Service {
    let dispatcher: OutboxDispatcher
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            // A due check is one indexed SQLite read: polling every 10 ms costs little and
            // keeps event→post latency close to the batch delay.
            await dispatcher.run(pollMS: 10, stop: { false })
        }
    }
}

/// Writes the WebAssembly plugins' health to the store every 10 s and at shutdown, for
/// `bothost status` (docs/plugins-wasm.md).
struct PluginHealthService: Service {
    let store: any OutboxStore
    let logger: Logger
    func run() async throws {
        let last = LockedBox<[String: PluginHealth.Record]>([:])
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(10))
                write(last)
            }
        }
        write(last)
    }

    private func write(_ last: LockedBox<[String: PluginHealth.Record]>) {
        let now = PluginHealth.shared.snapshot()
        guard now != last.value else { return }
        if let error = PluginHealth.shared.persist(to: store) { logger.warning("plugin health not stored: \(error)") } else { last.value = now }
    }
}

/// Fetches the shown accounts' names every minute; stops on graceful shutdown.
struct NamesService: Service {
    let resolver: ProfileResolver
    let reader: any StateReading
    let logger: Logger
    func run() async throws {
        try? await cancelWhenGracefulShutdown { await resolver.run(reader: reader, logger: logger) }
    }
}

/// Runs the live host as a service and keeps its summary.
struct SummaryService: Service {
    let host: LiveHost
    let summary: LockedBox<LiveHost.Summary?>
    func run() async throws {
        let result = try await host.runUntilDone()
        summary.value = result
    }
}

enum RunSummaryPrinter {
    static func print(_ s: LiveHost.Summary, format: OutputFormat, db: String) {
        switch format {
        case .json:
            let json = JSONWriter()
            json.object {
                json.field("events", s.events)
                json.field("duplicates", s.duplicates)
                json.field("malformed", s.malformed)
                json.field("batches", s.batches)
                json.field("reconnects", s.reconnects)
                json.field("cursor_us", s.cursorUS)
                json.field("exit", s.exitReason)
                json.field("active_seconds", s.activeSeconds)
                json.field("events_per_second", s.activeSeconds > 0 ? Double(s.events) / s.activeSeconds : 0)
                json.field("latency_p50_ms", s.latencyP50 * 1000)
                json.field("latency_p99_ms", s.latencyP99 * 1000)
                json.field("db", db)
            }
            Swift.print(json.output)
        case .table:
            Swift.print(Format.table(["run", ""], [
                ["events applied", Format.grouped(s.events)],
                ["duplicates ignored", Format.grouped(s.duplicates)],
                ["malformed skipped", Format.grouped(s.malformed)],
                ["batches", Format.grouped(s.batches)],
                ["connections ended", Format.grouped(s.reconnects)],
                ["cursor", String(s.cursorUS)],
                ["exit", s.exitReason],
                ["database", db],
            ]))
        }
    }
}

/// Logging to standard error, bootstrapped once per process.
enum Log {
    static func bootstrap(level: String) {
        let parsed = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return RedactingLogHandler(handler)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
