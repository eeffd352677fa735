import Foundation
import XRPCClient

/// A real AT Protocol PDS (arroba, with the harness in Tests/xrpc-peer/pds.py) on a
/// loopback port, started for one test and stopped with it.
final class TestPDS: @unchecked Sendable {
    let process = Process()
    let port: Int
    /// handle → DID; the first account is the bot.
    let accounts: [(handle: String, did: String)]
    var url: String { "http://127.0.0.1:\(port)" }
    var botDID: String { accounts[0].did }
    private let control = CurlTransport()

    /// - Parameter arguments: extra pds.py options (`--access-ttl 2`, `--chaos 1`, …).
    init(_ arguments: [String] = [], port: Int = 0) throws {
        let python = Fixtures.packageRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestPDSError("no .venv: run `make test` (scripts/install-deps.sh installs arroba)")
        }
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [Fixtures.packageRoot.appendingPathComponent("Tests/xrpc-peer/pds.py").path,
                             "--port", String(port)] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var accounts: [(String, String)] = []
        var port = 0
        var buffer = ""
        let handle = output.fileHandleForReading
        while port == 0 {
            let data = handle.availableData
            if data.isEmpty { throw TestPDSError("pds.py exited before READY") }
            buffer += String(decoding: data, as: UTF8.self)
            while let newline = buffer.firstIndex(of: "\n") {
                let line = String(buffer[..<newline])
                buffer = String(buffer[buffer.index(after: newline)...])
                if line.hasPrefix("READY port=") { port = Int(line.dropFirst("READY port=".count)) ?? 0 }
                if line.hasPrefix("ACCOUNT ") {
                    let fields = Dictionary(uniqueKeysWithValues: line.dropFirst(8).split(separator: " ").map {
                        let parts = $0.split(separator: "=", maxSplits: 1)
                        return (String(parts[0]), String(parts.count > 1 ? parts[1] : ""))
                    })
                    accounts.append((fields["handle"] ?? "", fields["did"] ?? ""))
                }
            }
        }
        self.port = port
        self.accounts = accounts
    }

    deinit { stop() }

    /// Stops the server at once (SIGKILL: its state is in memory and thrown away
    /// anyway). Polls instead of `waitUntilExit`, which can wait on a run loop that
    /// async tests do not spin.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<100 where process.isRunning { usleep(20_000) }
    }

    /// A client logged in as the bot (`bot.test` / `bot-pass` unless given).
    func client(identifier: String = "bot.test", password: String = "bot-pass",
                retry: RetryPolicy = RetryPolicy(maxAttempts: 4, baseDelayMS: 50, maxDelayMS: 400)) throws -> XRPCClient {
        try XRPCClient(service: url, credentials: Credentials(identifier: identifier, password: Secret(password)), retry: retry)
    }

    /// POSTs a control command (faults, reset).
    func post(_ path: String, _ json: String) async throws {
        let response = try await control.perform(HTTPRequest(method: .post, url: url + path,
                                                             headers: [("Content-Type", "application/json")], body: Array(json.utf8)))
        guard response.status == 200 else { throw TestPDSError("\(path): HTTP \(response.status)") }
    }

    /// GETs a control endpoint's JSON.
    func get(_ path: String) async throws -> Any {
        let response = try await control.perform(HTTPRequest(method: .get, url: url + path))
        return try JSONSerialization.jsonObject(with: Data(response.body))
    }

    /// Every post in the bot's repository, straight from storage.
    func botPosts() async throws -> [[String: Any]] {
        try await get("/_control/records?did=\(botDID)&collection=app.bsky.feed.post") as? [[String: Any]] ?? []
    }

    func stats() async throws -> [String: Any] {
        try await get("/_control/stats") as? [String: Any] ?? [:]
    }
}

struct TestPDSError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
