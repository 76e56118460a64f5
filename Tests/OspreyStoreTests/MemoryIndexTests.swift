import Foundation
import GRDB
import OspreyCore
import OspreyTesting
import Testing

@testable import OspreyStore

/// The memory index keeps one full-text row per memory, under the memory's own rowid.
struct MemoryIndexTests {
    static func entry(_ id: String, _ body: String) -> Memories.Entry {
        Memories.Entry(
            id: id,
            type: "fact",
            tags: ["t1", "t2"],
            source: "user",
            provenance: "test",
            trust: "trusted",
            importance: 0.5,
            created: Date(timeIntervalSince1970: 1_800_000_000),
            lastUsed: nil,
            title: "Title \(id)",
            body: body,
            contentHash: "hash-\(body)"
        )
    }

    /// (memory id, full-text id) for every row of either table, joined on rowid.
    static func pairs(_ queue: DatabaseQueue) throws -> [[String?]] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT m.id AS memory, f.id AS fts FROM memories m LEFT JOIN memory_fts f ON f.rowid = m.rowid
                    UNION ALL
                    SELECT NULL, f.id FROM memory_fts f WHERE f.rowid NOT IN (SELECT rowid FROM memories)
                    ORDER BY 1, 2
                    """
            ).map { [$0["memory"], $0["fts"]] }
        }
    }

    @Test func replacingAndRemovingAMemoryKeepsOneFullTextRowUnderItsRowid() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("osprey.db").path
        let store = try Store.open(path: path, ledgerKey: Array(repeating: 1, count: 32))
        for (id, body) in [("m1", "kestrels hover"), ("m2", "herons wade"), ("m3", "plovers run")] {
            try await store.memories.index(Self.entry(id, body), event: nil)
        }
        try await store.memories.index(Self.entry("m2", "egrets stalk"), event: nil)
        try await store.memories.remove("m3", event: nil)
        try await store.memories.remove("absent", event: nil)
        let queue = try DatabaseQueue(path: path)
        #expect(try Self.pairs(queue) == [["m1", "m1"], ["m2", "m2"]])
        #expect(try await store.memories.keywordSearch(["herons"], limit: 5).isEmpty)
        #expect(try await store.memories.keywordSearch(["egrets"], limit: 5) == ["m2"])
        #expect(try await store.memories.keywordSearch(["plovers"], limit: 5).isEmpty)
    }

    @Test func theMigrationGivesFullTextRowsTheirMemorysRowid() throws {
        // Given a database at the migration before, whose full-text rows have rowids of their own
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let queue = try DatabaseQueue(path: directory.url.appendingPathComponent("old.db").path)
        try Store.migrator.migrate(queue, upTo: "v9-task-taint")
        try queue.write { db in
            for (id, body, tags) in [("a", "kestrels hover", #"["x","y"]"#), ("b", "herons wade", "[]")] {
                try db.execute(
                    sql: """
                        INSERT INTO memories (id, file, type, tags, source, provenance, trust, importance, created_at,
                            title, body, content_hash) VALUES (?, ?, 'fact', ?, 'user', 't', 'trusted', 0.5, 'now', 'T', ?, 'h')
                        """,
                    arguments: [id, id + ".md", tags, body]
                )
            }
            try db.execute(
                sql: "INSERT INTO memory_fts (rowid, id, title, body, tags) VALUES (40, 'b', 'T', 'herons wade', '')"
            )
            try db.execute(
                sql:
                    "INSERT INTO memory_fts (rowid, id, title, body, tags) VALUES (41, 'a', 'T', 'kestrels hover', 'x y')"
            )
        }
        // When it migrates
        try Store.migrator.migrate(queue)
        // Then each memory has exactly one full-text row, under its rowid, with the same text
        #expect(try Self.pairs(queue) == [["a", "a"], ["b", "b"]])
        let tags = try queue.read { db in try String.fetchOne(db, sql: "SELECT tags FROM memory_fts WHERE id = 'a'") }
        #expect(tags == "x y")
    }
}
