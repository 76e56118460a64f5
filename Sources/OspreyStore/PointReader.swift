import GRDB
import Synchronization

/// One read-only connection for bounded reads on the calling thread, taken only when it is free.
///
/// A read through GRDB's pool from a thread of the task pool may wait for one of the pool's readers, and a reader an
/// async read holds is given back only when that read's task resumes on the task pool: with every thread of the
/// task pool waiting so, nothing resumes (the deadlock `LoadTests` provokes with more callers than threads). This
/// connection is taken with a try-lock instead: a caller that finds it in use reads through the pool's queue, so no
/// thread ever waits for it.
final class PointReader: Sendable {
    private let connection: DatabaseQueue
    private let inUse = Mutex(false)

    init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// `body`'s result, read in one snapshot on the calling thread; nil when the connection is in use.
    func read<T>(_ body: (SQLConnection) throws -> T) throws -> T? {
        let taken = inUse.withLock { inUse in
            defer { inUse = true }
            return !inUse
        }
        guard taken else { return nil }
        defer { inUse.withLock { $0 = false } }
        return try connection.inDatabase { db in try Self.snapshot(db, body) }
    }

    /// `body`'s result, read in one snapshot on `db`, a connection with no transaction of its own open.
    ///
    /// GRDB's `read` would begin and end the snapshot with statements it compiles on every call (a fifth of such a
    /// read's time); these are compiled once for the connection.
    static func snapshot<T>(_ db: Database, _ body: (SQLConnection) throws -> T) throws -> T {
        if db.isInsideTransaction { try db.cachedStatement(sql: "ROLLBACK").execute() }
        try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
        let value: T
        do {
            value = try body(SQLConnection(db))
        } catch {
            // A read-only snapshot holds nothing to keep: it ends whatever the body threw (an unknown id, mostly).
            if db.isInsideTransaction { try db.cachedStatement(sql: "ROLLBACK").execute() }
            throw error
        }
        try db.cachedStatement(sql: "COMMIT").execute()
        return value
    }
}
