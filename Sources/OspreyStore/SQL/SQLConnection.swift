import Foundation
import GRDB
import Logging
import PostgresNIO
import Synchronization

/// The engine a store runs on, for the few statements whose words differ between them.
public enum SQLDialect: String, Sendable {
    case sqlite, postgres
}

/// One connection of the store, inside a transaction or a read, on SQLite or PostgreSQL: the repositories' SQL runs
/// through it unchanged on both. Statements take `?` placeholders and the SQL both engines share (SQLite ≥ 3.35
/// understands `ON CONFLICT … DO …` and `RETURNING`); a PostgreSQL connection numbers the placeholders.
///
/// Synchronous, like GRDB's `Database`: a PostgreSQL connection waits for the server on the thread it runs on, which
/// is the store's own writer or reader thread, never an event loop.
public final class SQLConnection {
    enum Engine {
        case sqlite(Database)
        case postgres(PostgresBlockingConnection)
    }

    let engine: Engine

    init(_ database: Database) { engine = .sqlite(database) }
    init(_ connection: PostgresBlockingConnection) { engine = .postgres(connection) }

    public var dialect: SQLDialect {
        switch engine {
        case .sqlite: .sqlite
        case .postgres: .postgres
        }
    }

    /// GRDB's connection, for the code not yet written against this one; on PostgreSQL a clear error.
    func sqlite(_ feature: @autoclosure () -> String = "this part of the store") throws -> Database {
        guard case .sqlite(let database) = engine else {
            throw StoreError.unavailable("\(feature()) does not run on PostgreSQL yet; use the SQLite store")
        }
        return database
    }

    /// How many rows the last ``execute(_:_:)`` changed.
    public private(set) var changesCount = 0

    /// Runs one statement; returns how many rows it changed.
    @discardableResult
    public func execute(_ sql: String, _ arguments: SQLArguments = []) throws -> Int {
        switch engine {
        case .sqlite(let database):
            let statement = try database.cachedStatement(sql: sql)
            if SQLiteDirect.handles(sql) {
                try SQLiteDirect.execute(statement, arguments, in: database)
            } else {
                try statement.execute(arguments: arguments.grdb)
            }
            changesCount = database.changesCount
        case .postgres(let connection):
            changesCount = try connection.execute(sql, arguments.values)
        }
        return changesCount
    }

    /// Every row of a query.
    public func rows(_ sql: String, _ arguments: SQLArguments = []) throws -> [SQLRow] {
        switch engine {
        case .sqlite(let database):
            let statement = try database.cachedStatement(sql: sql)
            let columns = Self.columns(of: statement, sql: sql)
            if SQLiteDirect.handles(sql) {
                return try SQLiteDirect.rows(statement, arguments, in: database).map {
                    SQLRow(columns: columns, values: $0)
                }
            }
            let cursor = try Row.fetchCursor(statement, arguments: arguments.grdb)
            var rows: [SQLRow] = []
            while let row = try cursor.next() {
                rows.append(SQLRow(row, columns: columns))
            }
            return rows
        case .postgres(let connection):
            return try connection.rows(sql, arguments.values)
        }
    }

    /// The columns of a SQLite statement, kept for each distinct statement text (the store's are a fixed set, plus
    /// a few built from filters; a bound keeps a surprise from growing it).
    static func columns(of statement: Statement, sql: String) -> SQLColumns {
        if let known = knownColumns.withLock({ $0[sql] }) { return known }
        let columns = SQLColumns(statement.columnNames)
        knownColumns.withLock { known in
            if known.count >= 4_096 { known.removeAll(keepingCapacity: true) }
            known[sql] = columns
        }
        return columns
    }

    private static let knownColumns = Mutex<[String: SQLColumns]>([:])

    /// The first row of a query, if any (on SQLite, the rest are never stepped to).
    public func row(_ sql: String, _ arguments: SQLArguments = []) throws -> SQLRow? {
        switch engine {
        case .sqlite(let database):
            let statement = try database.cachedStatement(sql: sql)
            if SQLiteDirect.handles(sql) {
                guard let values = try SQLiteDirect.rows(statement, arguments, limit: 1, in: database).first else {
                    return nil
                }
                return SQLRow(columns: Self.columns(of: statement, sql: sql), values: values)
            }
            guard let row = try Row.fetchOne(statement, arguments: arguments.grdb) else { return nil }
            return SQLRow(row, columns: Self.columns(of: statement, sql: sql))
        case .postgres(let connection):
            return try connection.rows(sql, arguments.values).first
        }
    }

    /// The first column of the first row, as `T`; nil for no row or NULL.
    public func value<T: SQLValueConvertible>(
        _ type: T.Type,
        _ sql: String,
        _ arguments: SQLArguments = []
    ) throws -> T? {
        switch engine {
        case .sqlite(let database):
            let statement = try database.cachedStatement(sql: sql)
            if SQLiteDirect.handles(sql) {
                return try SQLiteDirect.rows(statement, arguments, limit: 1, in: database).first?.first.flatMap(
                    T.fromSQL
                )
            }
            return try DatabaseValue.fetchOne(statement, arguments: arguments.grdb).flatMap { T.fromSQL(SQLValue($0)) }
        case .postgres(let connection):
            return try connection.rows(sql, arguments.values).first?.values.first.flatMap(T.fromSQL)
        }
    }

    /// The first column of every row, as `T` (rows whose value is NULL or not a `T` left out).
    public func values<T: SQLValueConvertible>(
        _ type: T.Type,
        _ sql: String,
        _ arguments: SQLArguments = []
    ) throws -> [T] {
        try rows(sql, arguments).compactMap { $0.values.first.flatMap(T.fromSQL) }
    }

    /// Every row as a record.
    public func records<T: SQLRecord>(_ type: T.Type, _ sql: String, _ arguments: SQLArguments = []) throws -> [T] {
        try rows(sql, arguments).map { try T(row: $0) }
    }

    /// The first row as a record, if any.
    public func record<T: SQLRecord>(_ type: T.Type, _ sql: String, _ arguments: SQLArguments = []) throws -> T? {
        try row(sql, arguments).map { try T(row: $0) }
    }

    /// Rolls back the open transaction after a failure: the failure is what the caller reports, and a rollback that
    /// fails too (the connection is gone) changes nothing, since the engine then rolls back on its own.
    func rollBackAfterFailure() {
        do { try execute("ROLLBACK TRANSACTION") } catch { return }
    }

    /// Whether a transaction is open on this connection.
    public var isInsideTransaction: Bool {
        switch engine {
        case .sqlite(let database): database.isInsideTransaction
        case .postgres(let connection): connection.inTransaction
        }
    }
}

extension SQLValue {
    init(_ value: DatabaseValue) {
        switch value.storage {
        case .null: self = .null
        case .int64(let number): self = .integer(number)
        case .double(let number): self = .real(number)
        case .string(let text): self = .text(text)
        case .blob(let data): self = .blob(data)
        }
    }

    var databaseValue: DatabaseValue {
        switch self {
        case .null: .null
        case .integer(let number): number.databaseValue
        case .real(let number): number.databaseValue
        case .text(let text): text.databaseValue
        case .blob(let data): data.databaseValue
        }
    }
}

extension SQLRow {
    /// A GRDB row's values, every column read, under its statement's columns.
    init(_ row: Row, columns: SQLColumns) {
        self.init(columns: columns, values: (0..<columns.names.count).map { SQLValue(row[$0] as DatabaseValue) })
    }
}

extension SQLArguments {
    /// Through GRDB's initializer for optional existentials: its other one, generic over the element type, maps
    /// with a key path that is not specialized across the module boundary and cost 2 % of an agent step's CPU.
    var grdb: StatementArguments {
        values.isEmpty
            ? StatementArguments()
            : StatementArguments(values.map { $0.databaseValue as (any DatabaseValueConvertible)? })
    }
}

/// A record read from a row: by hand (`init(row:)`), or through its `Decodable` form, whose keys are the columns.
public protocol SQLRecord {
    init(row: SQLRow) throws
}

extension SQLRecord where Self: Decodable {
    public init(row: SQLRow) throws { self = try row.decode(Self.self) }
}
