import GRDB
import Testing

@testable import OspreyStore

/// A new database gets its schema from one script (`Store+Schema.swift`); it must be the database the migrations make.
struct StoreSchemaTests {
    /// Everything `sqlite_master` holds (tables, indexes, triggers, the full-text index's own tables), by name.
    static func master(_ writer: some DatabaseWriter) throws -> Set<String> {
        try writer.read { db in
            Set(
                try Row.fetchAll(db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_master").map { row in
                    let (type, name, table, sql): (String, String, String, String?) =
                        (row["type"], row["name"], row["tbl_name"], row["sql"])
                    return "\(type) \(name) on \(table): \(sql ?? "-")"
                }
            )
        }
    }

    /// The script a migrated database would give: its statements in the order SQLite keeps them, without what
    /// SQLite makes itself (`sqlite_` tables, the indexes of constraints, a virtual table's own tables).
    static func script(from writer: some DatabaseWriter) throws -> String {
        try writer.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT type, name, sql FROM sqlite_master ORDER BY rowid")
            let virtual = rows.compactMap { row -> String? in
                let sql: String? = row["sql"]
                return sql?.hasPrefix("CREATE VIRTUAL TABLE") == true ? row["name"] : nil
            }
            return rows.compactMap { row -> String? in
                let name: String = row["name"]
                guard let sql: String = row["sql"], !name.hasPrefix("sqlite_") else { return nil }
                if sql.hasPrefix("CREATE TABLE '"), virtual.contains(where: { name.hasPrefix($0 + "_") }) { return nil }
                return sql + ";"
            }.joined(separator: "\n")
        }
    }

    /// The rows of every table, by table name (a new database has the full-text index's configuration rows).
    static func contents(_ writer: some DatabaseWriter) throws -> [String: [[DatabaseValue]]] {
        try writer.read { db in
            var contents: [String: [[DatabaseValue]]] = [:]
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") {
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table.quotedDatabaseIdentifier)")
                contents[table] = rows.map { Array($0.databaseValues) }.sorted { "\($0)" < "\($1)" }
            }
            return contents
        }
    }

    @Test func theScriptMakesTheDatabaseTheMigrationsMake() throws {
        // Given one database made by every migration in turn, and one made by the store from nothing
        let migrated = try Self.migratedQueue()
        let created = try DatabaseQueue()
        _ = try Store(writer: created, ledgerKey: Array(repeating: 7, count: 32))
        // Then the two hold the same schema, to the text SQLite keeps of each statement, and the same rows
        let expected = try Self.master(migrated)
        let made = try Self.master(created)
        let script = try Self.script(from: migrated)
        #expect(
            made == expected,
            """
            Store.newDatabaseSchema no longer makes what the migrations make.
            Only from the migrations: \(expected.subtracting(made).sorted())
            Only from the script: \(made.subtracting(expected).sorted())
            The migrations' script:
            \(script)
            """
        )
        #expect(try Self.contents(created) == Self.contents(migrated))
        // And the migrator counts every migration as applied, so none runs again on the next start
        let completed = try created.read { db in try Store.migrator.completedMigrations(db) }
        #expect(completed == Store.migrator.migrations)
    }

    @Test func theScriptStandsForTheFirstMigrationsInTheirOrder() {
        // A migration added later runs after the script, so the script's list is the migrator's first ones
        let all = Store.migrator.migrations
        #expect(Array(all.prefix(Store.newDatabaseMigrations.count)) == Store.newDatabaseMigrations)
    }

    @Test func aDatabaseWithASchemaIsLeftToItsMigrations() throws {
        // Given a database at an older migration, with a row in it
        let queue = try DatabaseQueue()
        try Store.migrator.migrate(queue, upTo: "v9-task-taint")
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO sessions (id, agent, created_at, updated_at) VALUES ('ses_1', 'default', 'a', 'a')"
            )
        }
        // When a store opens it
        _ = try Store(writer: queue, ledgerKey: Array(repeating: 7, count: 32))
        // Then the migrations after it ran, not the script, and the row is kept
        let (completed, sessions) = try queue.read { db in
            (try Store.migrator.completedMigrations(db), try String.fetchAll(db, sql: "SELECT id FROM sessions"))
        }
        #expect(completed == Store.migrator.migrations)
        #expect(sessions == ["ses_1"])
        #expect(try Self.master(queue) == Self.master(Self.migratedQueue()))
    }

    static func migratedQueue() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try Store.migrator.migrate(queue)
        return queue
    }
}
