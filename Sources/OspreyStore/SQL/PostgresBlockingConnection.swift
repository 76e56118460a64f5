import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A PostgreSQL connection used synchronously, as the store's SQL is run: each statement waits for its answer on the
/// calling thread (one of the store's own threads, never an event loop or the task pool's).
///
/// Statements use SQLite's `?` placeholders; they are numbered `$1, $2, …` here (outside quoted text), once per
/// distinct statement. Values bind as `BIGINT`, `DOUBLE PRECISION`, `TEXT` or `BYTEA`, and rows come back as
/// ``SQLValue``s, so the same repository code reads both engines.
final class PostgresBlockingConnection: @unchecked Sendable {
    // Unchecked: used by one thread at a time (the store's writer, or a reader that holds it), as GRDB's connections.
    let connection: PostgresConnection
    let logger: Logger
    private(set) var inTransaction = false
    /// How long a statement may go unanswered before the connection is given up (closed, the statement failed as
    /// `StoreError.unavailable`). No statement of the store's takes minutes; one unanswered this long means a server
    /// or network that went away without the connection hearing of it, and the thread waiting for it (a store's
    /// writer, or a test process that cannot exit while it waits) would otherwise wait for ever. A lane's advisory
    /// lock, which waits for another gateway's run, is not a statement through here.
    var answerLimit: TimeAmount = .minutes(5)

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Opens a connection to `target`, waiting for it.
    static func connect(to target: PostgresTarget, node: String, logger: Logger) throws -> PostgresBlockingConnection {
        var configuration = try target.connectionConfiguration()
        configuration.options.additionalStartupParameters = [("application_name", "osprey:" + node)]
        let id = ids.add(1, ordering: .relaxed).newValue
        do {
            let connection = try PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(),
                configuration: configuration,
                id: id,
                logger: logger
            ).wait()
            return PostgresBlockingConnection(connection: connection, logger: logger)
        } catch {
            throw Self.translated(error)
        }
    }

    private static let ids = Atomic<Int>(0)

    /// Closes the connection and waits for it (from the store's own threads, never an event loop's). Closing a
    /// connection the server dropped changes nothing.
    func close() { try? connection.close().wait() }

    /// A connection is closed before it goes (PostgresNIO requires it): by ``close()``, or here when the store that
    /// held it is dropped without closing. The close is only started: the last reference may go on any event loop's
    /// thread, where NIO forbids a wait.
    deinit {
        guard !connection.isClosed else { return }
        // The callback holds the connection until its close has finished (PostgresNIO requires a closed one to go).
        let connection = connection
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    var isClosed: Bool { connection.isClosed }

    /// Rolls back the open transaction, if the connection still can: after a failure, whose error is the one the
    /// caller reports (a server that is gone has rolled back already).
    func rollBack() {
        guard !connection.isClosed else { return }
        do { _ = try execute("ROLLBACK", []) } catch { logger.debug("rollback failed: \(error)") }
    }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let result = try run(sql, arguments)
        var columns: SQLColumns?
        return try result.rows.map { row in
            let layout = columns ?? SQLColumns(row.map(\.columnName))
            columns = layout
            return SQLRow(columns: layout, values: try row.map(Self.value(of:)))
        }
    }

    private func run(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        guard !connection.isClosed else { throw StoreError.unavailable("PostgreSQL: the connection was closed") }
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case .null: binds.appendNull()
            case .integer(let number): binds.append(number)
            case .real(let number): binds.append(number)
            case .text(let text):
                // PostgreSQL's text holds no NUL (SQLite's does): said plainly, before the server says it in bytes.
                guard !text.utf8.contains(0) else {
                    throw StoreError.invalid("text with a NUL character (U+0000) cannot be stored on PostgreSQL")
                }
                binds.append(text)
            case .blob(let data): binds.append(ByteBuffer(bytes: data))
            }
        }
        let query = PostgresQuery(unsafeSQL: Self.numbered(sql), binds: binds)
        track(sql)
        do {
            return try answer(connection.query(query, logger: logger))
        } catch {
            throw Self.translated(error)
        }
    }

    /// `future`'s value, waited for at most ``answerLimit``; past it the connection is closed and the wait fails.
    private func answer<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let answered = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: answered)
        let connection = connection
        let limit = answerLimit
        let giveUp = future.eventLoop.scheduleTask(in: limit) {
            let failure = StoreError.unavailable(
                "PostgreSQL: no answer within \(limit.nanoseconds / 1_000_000) ms; connection closed"
            )
            // Failed first, so the caller hears why (the close fails the statement too, as a closed connection).
            answered.fail(failure)
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
        }
        defer { giveUp.cancel() }
        return try answered.futureResult.wait()
    }

    /// Follows `BEGIN`, `COMMIT` and `ROLLBACK` (not `ROLLBACK TO`), as SQLite's `isInsideTransaction` does.
    private func track(_ sql: String) {
        let head = sql.prefix(24).uppercased()
        if head.hasPrefix("BEGIN") {
            inTransaction = true
        } else if head.hasPrefix("COMMIT") || (head.hasPrefix("ROLLBACK") && !head.hasPrefix("ROLLBACK TO")) {
            inTransaction = false
        }
    }

    static func value(of cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .numeric: return .real(Double(try cell.decode(String.self)) ?? .nan)
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea:
            var buffer = try cell.decode(ByteBuffer.self)
            return .blob(Data(buffer.readBytes(length: buffer.readableBytes) ?? []))
        default: return .text(try cell.decode(String.self))
        }
    }

    /// `?` → `$n`, outside single-quoted text, double-quoted names and comments; kept for each distinct statement.
    static func numbered(_ sql: String) -> String {
        if let known = numberedStatements.withLock({ $0[sql] }) { return known }
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        var previous: Character = " "
        var inComment = false
        for character in sql {
            if inComment {
                if character == "\n" { inComment = false }
            } else if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "-" && previous == "-" {
                inComment = true
            } else if character == "?" {
                number += 1
                result += "$\(number)"
                previous = character
                continue
            }
            result.append(character)
            previous = character
        }
        numberedStatements.withLock { known in
            // Statements are a fixed set plus a few built from filters; a bound keeps a surprise from growing it.
            if known.count >= 4_096 { known.removeAll(keepingCapacity: true) }
            known[sql] = result
        }
        return result
    }

    private static let numberedStatements = Mutex<[String: String]>([:])

    /// PostgreSQL's errors as ``StoreError``s that say what the server said (or that it could not be reached): data
    /// it cannot hold (SQLSTATE class 22) is the request's fault, a broken constraint (23) a conflict, and anything
    /// else (a lost connection, a full disk, a lock, the server shutting down) unavailable, which may succeed later.
    static func translated(_ error: any Error) -> any Error {
        guard let error = error as? PSQLError else { return error }
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState]
            let code = state.map { " (SQLSTATE \($0))" } ?? ""
            switch state?.prefix(2) {
            case "22": return StoreError.invalid("PostgreSQL cannot store this: \(message)\(code)")
            case "23": return StoreError.conflict("PostgreSQL: \(message)\(code)")
            default: return StoreError.unavailable("PostgreSQL: \(message)\(code)")
            }
        }
        let cause = error.underlying.map { ": \($0)" } ?? ""
        return StoreError.unavailable("PostgreSQL unreachable: \(error.code.description)\(cause)")
    }
}
