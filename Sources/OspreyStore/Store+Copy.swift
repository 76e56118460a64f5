import Foundation
public import OspreyCore

extension Store {
    /// What a copy into PostgreSQL did: rows written per table (those already there are not counted), and both
    /// ledgers' verification after it.
    public struct CopyReport: Sendable {
        public var rows: [String: Int]
        public var source: LedgerVerification
        public var target: LedgerVerification

        /// The events copied.
        public var events: Int { rows["events", default: 0] }
    }

    /// Copies everything this SQLite store holds into a PostgreSQL store (`osprey store migrate --to`): every table
    /// the migrations made (the schemas match: PostgreSQL's is derived from them), in the order of their foreign
    /// keys, pages of 1,000 rows in one transaction each, each event with its seq, id, time and hash, the signed
    /// head, and the memories' full text. A row the target already holds (same key) is left as it is, so a copy
    /// cut short is run again to finish it. Then both ledgers are verified.
    ///
    /// Refused with ``StoreError/conflict(_:)``, before anything is written, when this ledger does not verify or
    /// when the target's ledger is not a beginning of this one (another chain, or one that has gone further).
    public func copy(into target: Store) async throws -> CopyReport {
        guard dialect == .sqlite, target.dialect == .postgres else {
            throw StoreError.invalid("a copy goes from a SQLite store into a PostgreSQL one")
        }
        let before = try await ledger.verify()
        guard before.ok else {
            throw StoreError.conflict(
                "the home's ledger does not verify (\(before.reason ?? "broken") at \(before.firstBadSeq ?? 0)): "
                    + "not copied"
            )
        }
        let held = try await target.ledger.lastSeq()
        if held > 0 {
            let theirs = try await target.ledger.events(after: held - 1, limit: 1).first
            guard let ours = try await ledger.events(after: held - 1, limit: 1).first else {
                throw StoreError.conflict(
                    "the database's ledger holds \(held) events, the home's \(before.count): it is not a copy of this home"
                )
            }
            guard ours.hash == theirs?.hash else {
                throw StoreError.conflict("the database's ledger is another chain (event \(held) differs): not copied")
            }
        }
        var written: [String: Int] = [:]
        for table in try await commits.read(Self.copiedTables) {
            written[table.name] = try await copy(table, into: target)
        }
        return CopyReport(rows: written, source: try await ledger.verify(), target: try await target.ledger.verify())
    }

    /// A table to copy: its columns with PostgreSQL's type for each, and its key (what makes a row already there).
    struct CopiedTable: Sendable {
        var name: String
        var columns: [(name: String, type: String)]
        var key: [String]
    }

    /// The tables, parents before children (by their foreign keys), with their columns; the memories' FTS5 table as
    /// PostgreSQL's `memory_fts` (the same four columns; its `tsvector` is generated from them).
    @Sendable static func copiedTables(_ db: SQLConnection) throws -> [CopiedTable] {
        let names = try db.values(String.self, PostgresSchema.tablesQuery)
        var tables: [String: CopiedTable] = [:]
        var parents: [String: Set<String>] = [:]
        for name in names {
            let columns = try db.rows("SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid", [name])
            tables[name] = CopiedTable(
                name: name,
                columns: columns.map { ($0["name"], PostgresSchema.type(of: $0["type"])) },
                key: columns.filter { ($0["pk"] as Int) > 0 }.sorted { ($0["pk"] as Int) < ($1["pk"] as Int) }
                    .map { $0["name"] }
            )
            parents[name] = Set(
                try db.values(String.self, "SELECT \"table\" FROM pragma_foreign_key_list(?)", [name])
                    .filter { $0 != name }
            )
        }
        var ordered: [CopiedTable] = []
        var done: Set<String> = []
        while done.count < names.count {
            let ready = names.filter { !done.contains($0) && parents[$0, default: []].isSubset(of: done) }
            guard !ready.isEmpty else { throw StoreError.invalid("the tables' foreign keys form a cycle") }
            for name in ready {
                ordered.append(tables[name]!)
                done.insert(name)
            }
        }
        ordered.append(
            CopiedTable(
                name: "memory_fts",
                columns: ["id", "title", "body", "tags"].map { ($0, "TEXT") },
                key: ["id"]
            )
        )
        return ordered
    }

    /// Copies one table page by page (by rowid); returns how many rows the target did not hold.
    private func copy(_ table: CopiedTable, into target: Store) async throws -> Int {
        let names = table.columns.map { PostgresSchema.quoted($0.name) }
        let select =
            "SELECT rowid AS osprey_rowid, \(names.joined(separator: ", ")) FROM \(PostgresSchema.quoted(table.name)) WHERE rowid > ? ORDER BY rowid LIMIT 1000"
        var upsert = """
            INSERT INTO \(PostgresSchema.quoted(table.name)) (\(names.joined(separator: ", ")))
            VALUES (\(Array(repeating: "?", count: names.count).joined(separator: ", ")))
            """
        if table.name == "ledger_head" {
            // The one signed head: the source's, which covers every event copied (a head moves only forward).
            upsert += """
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature
                WHERE ledger_head.seq < excluded.seq
                """
        } else {
            upsert += " ON CONFLICT DO NOTHING"
        }
        let insert = upsert
        var cursor: Int64 = 0
        var written = 0
        while true {
            let after = cursor
            let page = try await commits.read { db in try db.rows(select, [after]) }
            guard let last = page.last else { return written }
            cursor = last["osprey_rowid"]
            let columns = table.columns
            written += try await target.commits.transaction { db in
                var count = 0
                for row in page {
                    let values = columns.enumerated().map { index, column in
                        Self.converted(row.values[index + 1], to: column.type)
                    }
                    count += try db.execute(insert, SQLArguments(values))
                }
                return count
            }
            if page.count < 1000 { return written }
        }
    }

    /// A SQLite value (typed by the value, not the column) as the PostgreSQL column's type wants it.
    static func converted(_ value: SQLValue, to type: String) -> SQLValue {
        switch (type, value) {
        case (_, .null): .null
        case ("BIGINT", _): Int64.fromSQL(value).map(SQLValue.integer) ?? value
        case ("DOUBLE PRECISION", _): Double.fromSQL(value).map(SQLValue.real) ?? value
        case ("BYTEA", .text(let text)): .blob(Data(text.utf8))
        case ("TEXT", .integer), ("TEXT", .real), ("TEXT", .blob): String.fromSQL(value).map(SQLValue.text) ?? value
        default: value
        }
    }
}
