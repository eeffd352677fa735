import BotHost
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// One PostgreSQL connection used from a blocking thread (the batch writer's, the
/// applying thread's for cold grants, the CLI's).
///
/// The host's write path is synchronous on its own threads (as with SQLite), so each
/// call waits on postgres-nio's future; it must never be used from an event loop.
package final class PGSession: @unchecked Sendable {
    package let connection: PostgresConnection
    let logger: Logger
    let url: PostgresURL

    private static let ids = Atomic<Int>(0)

    init(_ url: PostgresURL) throws {
        self.url = url
        var logger = Logger(label: "bothost.postgres")
        logger.logLevel = .error
        self.logger = logger
        let configuration = try url.configuration()
        let id = Self.ids.add(1, ordering: .relaxed).newValue
        do {
            connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                        id: id, logger: logger).wait()
        } catch {
            throw StoreError("cannot connect to \(url.redacted): \(PGSession.message(error))")
        }
    }

    deinit { try? connection.close().wait() }

    /// Runs one statement and returns its rows.
    @discardableResult
    package func query(_ query: PostgresQuery) throws -> [PostgresRow] {
        try connection.query(query, logger: logger).wait().rows
    }

    /// Runs statements separated by `;` at line ends (no parameters), one by one; `--`
    /// comments are dropped.
    package func execute(_ sql: String) throws {
        var statement = ""
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            var text = Substring(line)
            if let comment = text.range(of: "--") { text = text[..<comment.lowerBound] }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            statement += trimmed + "\n"
            if trimmed.hasSuffix(";") {
                try query(PostgresQuery(unsafeSQL: statement))
                statement = ""
            }
        }
        if !statement.isEmpty { try query(PostgresQuery(unsafeSQL: statement)) }
    }

    /// Streams rows to `body` (constant memory for exports and loads).
    package func forEach(_ query: PostgresQuery, _ body: @escaping @Sendable (PostgresRow) throws -> Void) throws {
        _ = try connection.query(query, logger: logger, body).wait()
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    package func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// `COPY table(columns) FROM STDIN` with text-format rows (tab-separated, newline-ended).
    package func copy(table: String, columns: [String], text: ByteBuffer) throws {
        let box = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let connection = self.connection
        let logger = self.logger
        let data = text
        // On the connection's event loop, not the cooperative pool: the caller blocks a
        // thread, which may itself be one of the pool's (a test, a live host's task).
        Task(executorPreference: EventLoopExecutor(connection.eventLoop)) {
            do {
                try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
                    try await writer.write(data)
                }
                box.withLock { $0 = .success(()) }
            } catch {
                box.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        try box.withLock { $0! }.get()
    }

    /// The server's message for an error (postgres-nio hides it from `description`).
    static func message(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let server = error.serverInfo, let text = server[.message] {
                let detail = server[.detail].map { " (\($0))" } ?? ""
                return text + detail
            }
            return "\(error.code)"
        }
        if let error = error as? StoreError { return error.description }
        if let error = error as? PostgresDecodingError {
            return "a column of \(error.postgresType) could not be read as \(error.targetType) (column \(error.columnName), index \(error.columnIndex))"
        }
        return "\(error)"
    }
}

/// Runs a task's jobs on a NIO event loop, so a blocked cooperative pool cannot starve it.
final class EventLoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
