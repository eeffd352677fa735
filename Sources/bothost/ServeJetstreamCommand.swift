import ArgumentParser
import BotHost
import JetstreamServer
import Logging

struct ServeJetstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-jetstream",
        abstract: "Serve a capture as a Jetstream-compatible server (v1 /subscribe and v2 subscribeEvents).",
        discussion: """
            For tests and bot authors: cursors, filters, zstd, options_update and requireHello behave as
            Jetstream's do; --drop-every, --stall and --garbage-every inject the faults of a real network.
            Prints 'listening on ws://HOST:PORT' once ready (--port 0 picks a free port).
            """)

    @Argument(help: "Capture file (.jsonl, .jsonl.zst) or - for standard input.")
    var capture: String

    @Option(name: .long, help: "Port (0: any free port).")
    var port: Int = 6008

    @Option(name: .long, help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Events per second per connection.")
    var rate: Double?

    @Option(name: .long, help: "Play at this multiple of the capture's own pace.")
    var speed: Double?

    @Flag(name: .long, help: "Send each event when the wall clock reaches its time_us (a capture stamped ahead plays as a live stream).")
    var wallClock = false

    @Flag(name: .long, help: "Start over at the end of the capture.")
    var loop = false

    @Option(name: .long, help: "Close each connection abruptly after this many events (v2: after a ConsumerTooSlow frame).")
    var dropEvery: Int?

    @Option(name: .long, help: "Pause this many milliseconds every --stall-every events.")
    var stall: Int?

    @Option(name: .long, help: "Events between stalls.")
    var stallEvery: Int = 1000

    @Option(name: .long, help: "Send a malformed frame every this many events.")
    var garbageEvery: Int?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func validate() throws {
        if [rate != nil, speed != nil, wallClock].filter({ $0 }).count > 1 {
            throw ValidationError("use one of --rate, --speed and --wall-clock")
        }
    }

    func run() async throws {
        Log.bootstrap(level: logLevel)
        let logger = Logger(label: "bothost.jetstream-server")
        let loaded: ReplayCapture
        do { loaded = try ReplayCapture(path: capture) } catch { throw CLIError("\(error)") }
        var options = ReplayServer.Options()
        options.host = host
        options.port = port
        options.rate = rate
        options.speed = speed
        options.wallClock = wallClock
        options.loop = loop
        options.precompress = true
        options.dropEvery = dropEvery
        options.stallMS = stall
        options.stallEvery = stallEvery
        options.garbageEvery = garbageEvery
        let server = ReplayServer(capture: loaded, options: options, logger: logger)
        let host = self.host
        try await server.run { port in
            print("listening on ws://\(host):\(port) (\(loaded.entries.count) events, \(loaded.skipped) unreadable lines skipped)")
            fflush(nil)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
