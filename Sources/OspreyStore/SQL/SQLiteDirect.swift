import Foundation
import GRDB
import GRDBSQLite

/// The store's plain statements (`SELECT`, `INSERT`, `UPDATE`, `DELETE`, `WITH`) run on GRDB's cached statement
/// through SQLite's C API: arguments bound straight from ``SQLValue``, columns read straight into it.
///
/// GRDB's own path converted every argument into `StatementArguments` through existentials and built a `Row` (with
/// a dictionary of lowercased column names) for each row read: a ledger append spent a fifth of its time reading
/// the chain's last row that way and a tenth converting its insert's ten arguments. Statements that change what
/// GRDB tracks (transactions, savepoints, the schema, pragmas) still go through GRDB.
enum SQLiteDirect {
    /// Whether `sql` is a plain query or change, which GRDB need not see run (the store's statements start with
    /// their keyword).
    static func handles(_ sql: String) -> Bool {
        var keyword: UInt64 = 0
        var letters = 0
        for byte in sql.utf8 {
            if letters == 0, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t") {
                continue
            }
            guard letters < 6, (UInt8(ascii: "A")...UInt8(ascii: "z")).contains(byte) else { break }
            keyword = keyword << 8 | UInt64(byte & 0xDF)  // upper case
            letters += 1
        }
        switch keyword {
        case word("SELECT"), word("INSERT"), word("UPDATE"), word("DELETE"), word("WITH"): return true
        default: return false
        }
    }

    private static func word(_ text: StaticString) -> UInt64 {
        UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Runs `statement` with `arguments` to its end (rows, if any, are stepped over).
    static func execute(_ statement: Statement, _ arguments: SQLArguments, in database: Database) throws {
        try bind(arguments, to: statement, in: database)
        defer { sqlite3_reset(statement.sqliteStatement) }
        while try step(statement, in: database) {}
    }

    /// The rows of `statement` with `arguments`, each as its columns' values; at most `limit` rows are stepped to.
    static func rows(
        _ statement: Statement,
        _ arguments: SQLArguments,
        limit: Int = .max,
        in database: Database
    ) throws -> [[SQLValue]] {
        try bind(arguments, to: statement, in: database)
        defer { sqlite3_reset(statement.sqliteStatement) }
        let handle = statement.sqliteStatement
        let count = sqlite3_column_count(handle)
        var rows: [[SQLValue]] = []
        while rows.count < limit, try step(statement, in: database) {
            var values: [SQLValue] = []
            values.reserveCapacity(Int(count))
            for index in 0..<count { values.append(value(handle, index)) }
            rows.append(values)
        }
        return rows
    }

    /// Column `index` of the current row, as GRDB's `DatabaseValue` reads it, except text: read whole by its length,
    /// where GRDB's `String(cString:)` stops at the first NUL (a memory, a task's instructions or a title with a
    /// `\u0000` in it came back cut short, and keyword search saw only its start).
    private static func value(_ handle: SQLiteStatement, _ index: CInt) -> SQLValue {
        switch sqlite3_column_type(handle, index) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, index))
        case SQLITE_TEXT:
            // The text first, then its length in bytes, as SQLite's documentation asks.
            guard let text = sqlite3_column_text(handle, index) else { return .text("") }
            let count = Int(sqlite3_column_bytes(handle, index))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        default: return SQLValue(DatabaseValue(sqliteStatement: handle, index: index))
        }
    }

    /// One step: true for a row, false when done; a failure is thrown as GRDB throws it.
    private static func step(_ statement: Statement, in database: Database) throws -> Bool {
        switch sqlite3_step(statement.sqliteStatement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code),
                message: database.lastErrorMessage,
                sql: statement.sql
            )
        }
    }

    /// Resets `statement` and binds `arguments` to its placeholders in order (SQLite copies text and blobs).
    private static func bind(_ arguments: SQLArguments, to statement: Statement, in database: Database) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard expected == arguments.values.count else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE,
                message: "wrong number of statement arguments: \(arguments.values.count) for \(expected) placeholders",
                sql: statement.sql
            )
        }
        for (offset, value) in arguments.values.enumerated() {
            let index = CInt(offset + 1)
            let code: CInt =
                switch value {
                case .null: sqlite3_bind_null(handle, index)
                case .integer(let number): sqlite3_bind_int64(handle, index, number)
                case .real(let number): sqlite3_bind_double(handle, index, number)
                case .text(var text):
                    // A zero-length text with no address would bind NULL: "" is bound as such.
                    text.isEmpty
                        ? sqlite3_bind_text(handle, index, "", 0, transient)
                        : text.withUTF8 { bytes in
                            bytes.withMemoryRebound(to: CChar.self) { characters in
                                sqlite3_bind_text(
                                    handle,
                                    index,
                                    characters.baseAddress,
                                    CInt(characters.count),
                                    transient
                                )
                            }
                        }
                case .blob(let data):
                    data.isEmpty
                        ? sqlite3_bind_zeroblob(handle, index, 0)
                        : data.withUnsafeBytes { bytes in
                            sqlite3_bind_blob(handle, index, bytes.baseAddress, CInt(bytes.count), transient)
                        }
                }
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: database.lastErrorMessage)
            }
        }
    }

    /// SQLite's `SQLITE_TRANSIENT`: it copies the bound bytes before the call returns.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
}
