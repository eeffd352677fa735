import ArgumentParser
import BotHost
import BotHostConfig
import BotHostStores
import BotHostHTTP
import Logging
import Plugins
import Rules

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a database read-only over HTTP: characters, leaderboards, activity, health.",
        discussion: """
            --store postgres://… serves a PostgreSQL store, from its primary or from a streaming
            read replica (the admin endpoints need the primary: a replica refuses writes).
            """)

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "Port (0: any free port).")
    var port: Int = 8080

    @Option(name: .long, help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "YAML config file (for the level curve).")
    var config: String?

    @Option(name: .long, help: "File (mode 0600) with the admin API's bearer token (default: $BOTHOST_ADMIN_TOKEN; none: read-only).")
    var adminTokenFile: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Requests per second each client address may make, after a burst of three seconds' worth (0: no per-client limit, e.g. behind a proxy that limits, or for a load test).")
    var clientRate: Double = 20

    func run() async throws {
        Log.bootstrap(level: logLevel)
        let configuration = try loadConfiguration(config)
        let location = database.location(configURL: configuration.store.url)
        let store = try location.openReader()
        let token = try AdminToken.load(file: adminTokenFile)
        var admin: (any ModerationWriting)?
        // The admin endpoints write: a connection that is not read-only.
        if token != nil { admin = try location.open() }
        guard clientRate >= 0, clientRate.isFinite else { throw ValidationError("--client-rate must be 0 or more") }
        var limits = APILimits()
        limits.perSecond = clientRate
        limits.burst = clientRate * 3
        let api = APIServer(store: store, curve: configuration.leveling.progression.curve, registry: APIServer.bootstrapMetrics(),
                            adminToken: token, adminStore: admin, limits: limits, seasons: configuration.seasons)
        let host = self.host
        try await api.run(host: host, port: port, logger: Logger(label: "bothost.http")) { port in
            print("serving http://\(host):\(port)")
            fflush(nil)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
