import ArgumentParser
import BotHost
import BotHostHTTP
import Logging
import Plugins
import Rules

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a database read-only over HTTP: characters, leaderboards, activity, health.")

    @OptionGroup var database: DatabaseOptions

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

    func run() async throws {
        Log.bootstrap(level: logLevel)
        let configuration = try loadConfiguration(config)
        let store = try openStore(database.db, readOnly: true)
        let token = try AdminToken.load(file: adminTokenFile)
        let api = APIServer(store: store, curve: configuration.leveling.progression.curve, registry: APIServer.bootstrapMetrics(),
                            adminToken: token, adminStore: token == nil ? nil : try openStore(database.db))
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
