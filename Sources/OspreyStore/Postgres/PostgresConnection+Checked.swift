import Logging
import PostgresNIO

/// A connection the server closed (a restart, `pg_terminate_backend`, a dead network) before a query was sent.
struct PostgresConnectionLost: Error, CustomStringConvertible {
    var description: String { "PostgreSQL closed the connection" }
}

extension PostgresConnection {
    /// Runs a query, failing at once on a connection that is already closed: PostgresNIO 1.33 writes a query to a
    /// closed channel with no promise, and the query then never answers.
    @discardableResult
    func run(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        guard !isClosed else { throw PostgresConnectionLost() }
        return try await self.query(query, logger: logger)
    }
}

extension PostgresClient {
    /// `body` in one transaction on a pooled connection: committed when it returns, rolled back when it throws
    /// (unless the connection is gone, when the server has already rolled it back). Unlike PostgresNIO's
    /// `withTransaction`, it never sends `ROLLBACK` to a closed connection, which would never answer.
    func transaction<T: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.run("BEGIN", logger: logger)
            do {
                let value = try await body(connection)
                try await connection.run("COMMIT", logger: logger)
                return value
            } catch {
                if !connection.isClosed {
                    try? await connection.run("ROLLBACK", logger: logger)  // the first error is the one to report
                }
                throw error
            }
        }
    }

    /// Runs one statement on a pooled connection and returns its rows, all read.
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await withConnection { connection in
            var rows: [PostgresRow] = []
            for try await row in try await connection.run(query, logger: logger) { rows.append(row) }
            return rows
        }
    }
}
