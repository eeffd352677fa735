import BotHost
import BotHostSQLite
import Foundation
import Testing
import XRPCClient

import BotHostHTTP
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization

/// A read side whose lookups fail with an error that quotes secrets, as a driver error
/// quoting a connection URL or a server echoing a token would. A stand-in: no real store
/// can be made to fail with chosen text.
private struct LeakyReader: StateReading {
    let base: Store
    let message: String
    struct Failure: Error, CustomStringConvertible { let description: String }
    func forEachAccount(_ body: (AccountRecord) throws -> Void) throws { try base.forEachAccount(body) }
    func account(_ didOrHandle: String) throws -> AccountRecord? { throw Failure(description: message) }
    func top(limit: Int) throws -> [AccountRecord] { try base.top(limit: limit) }
    func ledger(account id: Int64, limit: Int) throws -> [LedgerRecord] { try base.ledger(account: id, limit: limit) }
    func readCursor() throws -> Int64? { try base.readCursor() }
    func leaderboard(window: RankingWindow, asOf: Int64, limit: Int) throws -> [RankedAccount] { try base.leaderboard(window: window, asOf: asOf, limit: limit) }
    func leaderboard(from: Int64, to: Int64, limit: Int) throws -> [RankedAccount] { try base.leaderboard(from: from, to: to, limit: limit) }
    func seasonArchive(_ name: String) throws -> [RankedAccount] { try base.seasonArchive(name) }
    func archivedSeasons() throws -> [ArchivedSeason] { try base.archivedSeasons() }
    func leaderboard(limit: Int) throws -> [RankedAccount] { try base.leaderboard(limit: limit) }
    func status() throws -> StoreStatus { try base.status() }
    func activityTotals(did: String) throws -> [(String, Int64)] { try base.activityTotals(did: did) }
    func activity(did: String, hourly: Bool) throws -> [(Int64, [(String, Int64)])] { try base.activity(did: did, hourly: hourly) }
}

/// Every line a logger wrote.
private final class Lines: Sendable {
    let lines = Mutex<[String]>([])
}

/// Keeps every line a logger writes.
private struct CapturingLogHandler: LogHandler {
    let lines: Lines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let meta = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.lines.withLock { $0.append("\(event.message) \(meta)") }
    }
}

/// Issue 18, attack 8 (docs/security.md): secrets planted in errors, logs and HTTP failures.
@Suite struct AbuseSecretsTests {
    typealias E = Events
    let alice = E.alice

    static let appPassword = "abcd-efgh-ijkl-mnop"
    static let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOmJvdCJ9.c2lnbmF0dXJlLXZhbHVl"
    static let dbPassword = "pg-Secret-42"

    private var planted: String {
        "connect postgres://bothost:\(Self.dbPassword)@db.internal:5432/bothost failed; session Bearer \(Self.jwt) for \(Self.appPassword)"
    }

    @Test func secretsNeverReachALogLineOrAnHTTPBody() async throws {
        _ = Secret(Self.appPassword)  // as the CLI loads it
        let text = Redact.secrets(in: planted)
        for secret in [Self.appPassword, Self.jwt, Self.dbPassword] { #expect(!text.contains(secret), "\(text)") }
        #expect(text.contains("postgres://bothost:***@db.internal"))
        // An XRPC error whose body echoes the token.
        let error = XRPCError.server(status: 400, error: "InvalidToken", message: "bad token \(Self.jwt)", rateLimit: nil)
        #expect(!error.description.contains(Self.jwt))
        // Every log line, message and metadata, through the handler `run` installs.
        let lines = Lines()
        var logger = Logger(label: "test") { _ in RedactingLogHandler(CapturingLogHandler(lines: lines)) }
        logger.logLevel = .trace
        logger.error("send failed: \(planted)", metadata: ["error": "\(error)", "url": .string(planted), "list": [.string(Self.appPassword)]])
        logger.warning("line\nforged: \(Self.appPassword)")
        let logged = lines.lines.withLock { $0 }
        #expect(logged.count == 2)
        for line in logged {
            for secret in [Self.appPassword, Self.jwt, Self.dbPassword] { #expect(!line.contains(secret), "\(line)") }
            #expect(!line.contains("\n"))
        }
        // An HTTP 500 says that it happened, not what.
        let host = try TestHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1))])
        let app = Application(router: APIServer(store: LeakyReader(base: host.store, message: planted)).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/characters/\(alice)", method: .get) { response in
                #expect(response.status == .internalServerError)
                let body = String(buffer: response.body)
                #expect(body.contains("InternalError"))
                for secret in [Self.appPassword, Self.jwt, Self.dbPassword, "db.internal"] { #expect(!body.contains(secret), "\(body)") }
            }
        }
    }
}
