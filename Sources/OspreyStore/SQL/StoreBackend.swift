import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization

/// The database a ``Store`` runs on: SQLite in the home (the default), or a PostgreSQL server several gateways share.
enum StoreBackend: Sendable {
    case sqlite(any DatabaseWriter)
    case postgres(PostgresEngine)
}

/// The store's connections to PostgreSQL: one writer, on a thread of its own (the group commit's turns run there,
/// as they run on SQLite's writer), and a few readers, each used by one read at a time on the thread that reads.
///
/// Statements wait for the server on these threads, as GRDB's wait for the disk; a connection the server closed
/// (a restart, a network cut) is dropped and opened again by the next turn or read, whose callers get the error in
/// the meantime: nothing is retried behind a caller's back, so a write is never applied twice.
final class PostgresEngine: Sendable {
    let target: PostgresTarget
    let node: String
    let logger: Logger
    private let writerQueue = DispatchQueue(label: "osprey.store.postgres.writer")
    private let writer = Mutex<PostgresBlockingConnection?>(nil)
    private let readers = Mutex<(idle: [PostgresBlockingConnection], closed: Bool)>(([], false))
    /// Reads run here, off the task pool, when the caller awaits (``read(_:)``).
    private let readQueue = DispatchQueue(label: "osprey.store.postgres.read", attributes: .concurrent)
    /// Idle readers kept open; more are opened while many reads run at once, and closed after.
    let idleReaders: Int

    init(target: PostgresTarget, node: String, idleReaders: Int = 4, logger: Logger) {
        self.target = target
        self.node = node
        self.idleReaders = idleReaders
        self.logger = logger
    }

    /// Runs `body` on the writer thread with the writer connection, opening it first if it is not open.
    func onWriter(_ body: @escaping @Sendable (Result<PostgresBlockingConnection, any Error>) -> Void) {
        writerQueue.async {
            body(
                Result {
                    try self.writer.withLock { writer in
                        if let open = writer, !open.isClosed { return open }
                        writer?.close()
                        writer = nil
                        let connection = try PostgresBlockingConnection.connect(
                            to: self.target,
                            node: self.node,
                            logger: self.logger
                        )
                        writer = connection
                        return connection
                    }
                }
            )
        }
    }

    /// A read on a reader thread, for a caller that awaits.
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            readQueue.async { continuation.resume(with: Result { try self.readHere(body) }) }
        }
    }

    /// A read on the calling thread, in one read-only snapshot (`REPEATABLE READ`), as SQLite's WAL readers see one.
    func readHere<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        let connection = try reader()
        let sql = SQLConnection(connection)
        do {
            try sql.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let value = try body(sql)
            try sql.execute("COMMIT")
            giveBack(connection)
            return value
        } catch {
            connection.rollBack()
            if connection.isClosed || connection.inTransaction { connection.close() } else { giveBack(connection) }
            throw error
        }
    }

    private func reader() throws -> PostgresBlockingConnection {
        while let idle = readers.withLock({ $0.idle.popLast() }) {
            if !idle.isClosed { return idle }
        }
        return try PostgresBlockingConnection.connect(to: target, node: node, logger: logger)
    }

    private func giveBack(_ connection: PostgresBlockingConnection) {
        let kept = readers.withLock { readers in
            guard !readers.closed, readers.idle.count < idleReaders else { return false }
            readers.idle.append(connection)
            return true
        }
        if !kept { connection.close() }
    }

    /// Closes every connection; reads and writes after this open new ones.
    func close() {
        let idle = readers.withLock { readers in
            defer { readers = ([], true) }
            return readers.idle
        }
        for connection in idle { connection.close() }
        writerQueue.sync {
            writer.withLock { writer in
                writer?.close()
                writer = nil
            }
        }
    }
}
