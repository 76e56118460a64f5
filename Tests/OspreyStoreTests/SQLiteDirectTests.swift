import Foundation
import GRDB
import GRDBSQLite
import Testing

@testable import OspreyStore

/// The store's plain statements run on SQLite's C API: the values that go in come out as GRDB read them, failures
/// are GRDB's errors, and no statement is left holding a read open.
struct SQLiteDirectTests {
    static let values: [SQLValue] = [
        .null, .integer(0), .integer(.min), .integer(.max), .real(-0.5), .real(1e300), .text(""), .text("plain"),
        .text("naïve 🦅 日本"), .blob(Data()), .blob(Data([0, 1, 2, 255])),
    ]

    @Test func aTextWithANulInItComesOutWhole() throws {
        let queue = try DatabaseQueue()
        try queue.write { database in
            let db = SQLConnection(database)
            try db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT)")
            let text = "before\u{0}after 🦅\u{0}"
            _ = try db.execute("INSERT INTO t (n, v) VALUES (1, ?)", [text])
            #expect(try db.value(String.self, "SELECT v FROM t WHERE n = 1") == text)
            #expect(try db.rows("SELECT v FROM t").map { $0.values } == [[.text(text)]])
            #expect(try db.value(Int.self, "SELECT length(CAST(v AS BLOB)) FROM t") == text.utf8.count)
        }
    }

    @Test func everyKindOfValueGoesInAndComesOutAsGRDBReadsIt() throws {
        let queue = try DatabaseQueue()
        try queue.write { database in
            let db = SQLConnection(database)
            try db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v)")
            for (index, value) in Self.values.enumerated() {
                #expect(
                    try db.execute("INSERT INTO t (n, v) VALUES (?, ?)", SQLArguments([.integer(Int64(index)), value]))
                        == 1
                )
            }
            // Read back directly, one row and all rows, and through GRDB's own rows: the same values.
            let rows = try db.rows("SELECT n, v FROM t ORDER BY n")
            #expect(rows.map { $0.values[1] } == Self.values)
            let throughGRDB = try Row.fetchAll(database, sql: "SELECT v FROM t ORDER BY n").map {
                SQLValue($0[0] as DatabaseValue)
            }
            #expect(throughGRDB == Self.values)
            for (index, value) in Self.values.enumerated() {
                let row = try db.row("SELECT v FROM t WHERE n = ?", [index])
                #expect(row?.values == [value])
            }
            #expect(try db.value(String.self, "SELECT v FROM t WHERE n = 8") == "naïve 🦅 日本")
            #expect(try db.value(Int.self, "  select count(*) FROM t") == Self.values.count)
            #expect(try db.row("SELECT v FROM t WHERE n = -1") == nil)
            #expect(try db.execute("UPDATE t SET v = ? WHERE n > ?", ["x", 8]) == 2)
            #expect(try db.execute("DELETE FROM t WHERE v = ?", ["x"]) == 2)
        }
    }

    @Test func aRowReadLeavesNoStatementStepping() throws {
        let queue = try DatabaseQueue()
        try queue.write { database in
            let db = SQLConnection(database)
            try db.execute("CREATE TABLE t (n INTEGER)")
            for number in 0..<10 { try db.execute("INSERT INTO t (n) VALUES (?)", [number]) }
            // The first of ten rows is read; the statement is reset, not left on its second row.
            let sql = "SELECT n FROM t ORDER BY n"
            #expect(try db.row(sql)?.values == [.integer(0)])
            #expect(try sqlite3_stmt_busy(database.cachedStatement(sql: sql).sqliteStatement) == 0)
            #expect(try db.value(Int.self, sql) == 0)
            #expect(try sqlite3_stmt_busy(database.cachedStatement(sql: sql).sqliteStatement) == 0)
            // And GRDB's own path over the same cached statement still reads it whole.
            #expect(try Int.fetchAll(database.cachedStatement(sql: sql)) == Array(0..<10))
        }
    }

    @Test func failuresAreGRDBsErrorsAndLeaveTheConnectionUsable() throws {
        let queue = try DatabaseQueue()
        try queue.write { database in
            let db = SQLConnection(database)
            try db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            try db.execute("INSERT INTO t (n, v) VALUES (?, ?)", [1, "one"])
            // A constraint: SQLite's own code and message.
            let duplicate = #expect(throws: DatabaseError.self) {
                try db.execute("INSERT INTO t (n, v) VALUES (?, ?)", [1, "again"])
            }
            #expect(duplicate?.resultCode == .SQLITE_CONSTRAINT)
            #expect(duplicate?.message?.contains("UNIQUE") == true || duplicate?.message?.contains("PRIMARY") == true)
            // Too few or too many arguments: refused before anything runs.
            for arguments: SQLArguments in [[2], [2, "two", nil]] {
                let misuse = #expect(throws: DatabaseError.self) {
                    try db.execute("INSERT INTO t (n, v) VALUES (?, ?)", arguments)
                }
                #expect(misuse?.resultCode == .SQLITE_MISUSE)
            }
            // The same statement then runs, and only the first row is there besides it.
            try db.execute("INSERT INTO t (n, v) VALUES (?, ?)", [2, "two"])
            #expect(try db.values(String.self, "SELECT v FROM t ORDER BY n") == ["one", "two"])
        }
    }

    @Test func onlyPlainQueriesAndChangesGoAroundGRDB() {
        for sql in [
            "SELECT 1", "select 1", "  INSERT INTO t VALUES (1)", "\n\tUPDATE t SET n = 1", "DELETE FROM t",
            "WITH x AS (SELECT 1) SELECT * FROM x",
        ] {
            #expect(SQLiteDirect.handles(sql), "\(sql)")
        }
        for sql in [
            "BEGIN IMMEDIATE TRANSACTION", "COMMIT TRANSACTION", "ROLLBACK", "SAVEPOINT osprey_group",
            "RELEASE SAVEPOINT osprey_group", "PRAGMA data_version", "CREATE TABLE t (n)", "DROP TABLE t", "VACUUM",
            "",
        ] {
            #expect(!SQLiteDirect.handles(sql), "\(sql)")
        }
    }
}
