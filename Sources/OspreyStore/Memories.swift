public import Foundation
public import OspreyCore

/// The memory index: a row and a full-text entry per memory, its vector, and the cached vectors of queries.
///
/// It is derived from the Markdown files under `memory/` (the memory bank's ground truth) and can be rebuilt
/// from them, so it holds plain columns: what a memory means is the memory bank's business.
public struct Memories: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// One memory's row, as the memory bank hands it over.
    public struct Entry: Hashable, Sendable {
        public var id: String
        public var type: String
        public var tags: [String]
        public var source: String
        public var provenance: String
        public var trust: String
        public var importance: Double
        public var created: Date
        public var lastUsed: Date?
        public var title: String?
        public var body: String
        /// The hash of the memory's file, so a reindex skips files that did not change.
        public var contentHash: String

        public init(
            id: String,
            type: String,
            tags: [String],
            source: String,
            provenance: String,
            trust: String,
            importance: Double,
            created: Date,
            lastUsed: Date?,
            title: String?,
            body: String,
            contentHash: String
        ) {
            self.id = id
            self.type = type
            self.tags = tags
            self.source = source
            self.provenance = provenance
            self.trust = trust
            self.importance = importance
            self.created = created
            self.lastUsed = lastUsed
            self.title = title
            self.body = body
            self.contentHash = contentHash
        }
    }

    /// Indexes `entry` (replacing its row, full-text entry and vector) and records `event` with it, if any.
    public func index(_ entry: Entry, event: EventDraft?) async throws {
        let tags = JSONValue.array(entry.tags.map(JSONValue.string)).canonicalJSON
        try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO memories (id, file, type, tags, source, provenance, trust, importance, created_at,
                    last_used_at, title, body, content_hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET file = excluded.file, type = excluded.type, tags = excluded.tags,
                    source = excluded.source, provenance = excluded.provenance, trust = excluded.trust,
                    importance = excluded.importance, created_at = excluded.created_at,
                    last_used_at = excluded.last_used_at, title = excluded.title, body = excluded.body,
                    content_hash = excluded.content_hash, embedding = NULL, embedded_with = NULL
                """,
                [
                    entry.id, entry.id + ".md", entry.type, tags, entry.source, entry.provenance, entry.trust,
                    entry.importance, WireFormat.timestamp(entry.created), entry.lastUsed.map(WireFormat.timestamp),
                    entry.title, entry.body, entry.contentHash,
                ]
            )
            let tags = entry.tags.joined(separator: " ")
            switch db.dialect {
            case .sqlite:
                // The full-text row shares the memory's rowid (kept by the upsert), so it is replaced by key.
                let row = try db.value(Int64.self, "SELECT rowid FROM memories WHERE id = ?", [entry.id])
                try db.execute("DELETE FROM memory_fts WHERE rowid = ?", [row])
                try db.execute(
                    "INSERT INTO memory_fts (rowid, id, title, body, tags) VALUES (?, ?, ?, ?, ?)",
                    [row, entry.id, entry.title ?? "", entry.body, tags]
                )
            case .postgres:
                try db.execute(
                    """
                    INSERT INTO memory_fts (id, title, body, tags) VALUES (?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body, tags = excluded.tags
                    """,
                    [entry.id, entry.title ?? "", entry.body, tags]
                )
            }
            if let event { _ = try ledger.append([event], in: db) }
        }
    }

    /// Removes memory `id` from the index and records `event` with it, if any.
    public func remove(_ id: String, event: EventDraft?) async throws {
        try await writer.transaction { db in
            switch db.dialect {
            case .sqlite:
                if let row = try db.value(Int64.self, "SELECT rowid FROM memories WHERE id = ?", [id]) {
                    try db.execute("DELETE FROM memories WHERE rowid = ?", [row])
                    try db.execute("DELETE FROM memory_fts WHERE rowid = ?", [row])
                }
            case .postgres:
                try db.execute("DELETE FROM memories WHERE id = ?", [id])
                try db.execute("DELETE FROM memory_fts WHERE id = ?", [id])
            }
            if let event { _ = try ledger.append([event], in: db) }
        }
    }

    /// Whether memory `id` is indexed.
    public func contains(_ id: String) async throws -> Bool {
        try await writer.read { db in
            try db.value(String.self, "SELECT file FROM memories WHERE id = ?", [id])
                != nil
        }
    }

    /// The indexed rows of `ids` (those that exist), by id, in one read: search builds its hits from these
    /// instead of reading and parsing each hit's file.
    public func entries(_ ids: [String]) async throws -> [String: Entry] {
        guard !ids.isEmpty else { return [:] }
        return try await writer.read { db in
            var entries: [String: Entry] = [:]
            // SQLite allows 32,766 parameters; a search asks for a few hundred at most, but stay well under.
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ ids[$0..<min($0 + 500, ids.count)] }) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                let rows = try db.rows(
                    """
                    SELECT id, type, tags, source, provenance, trust, importance, created_at, last_used_at, title,
                        body, content_hash
                    FROM memories WHERE id IN (\(marks))
                    """,
                    SQLArguments(chunk.map { .text($0) })
                )
                for row in rows {
                    let tags = (try? JSONValue.parse(row["tags"] as String))?.arrayValue?.compactMap(\.stringValue)
                    let entry = Entry(
                        id: row["id"],
                        type: row["type"],
                        tags: tags ?? [],
                        source: row["source"],
                        provenance: row["provenance"],
                        trust: row["trust"],
                        importance: row["importance"],
                        created: WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0),
                        lastUsed: (row["last_used_at"] as String?).flatMap(WireFormat.date(from:)),
                        title: row["title"],
                        body: row["body"],
                        contentHash: row["content_hash"]
                    )
                    entries[entry.id] = entry
                }
            }
            return entries
        }
    }

    /// The content hash of every indexed memory, by id.
    public func contentHashes() async throws -> [String: String] {
        try await writer.read { db in
            try Dictionary(
                db.rows("SELECT id, content_hash FROM memories").map {
                    ($0["id"] as String, $0["content_hash"] as String)
                },
                uniquingKeysWith: { first, _ in first }
            )
        }
    }

    /// Every indexed memory's id, the most important first, then the oldest.
    public func idsByImportance() async throws -> [String] {
        try await writer.read { db in
            try db.values(String.self, "SELECT id FROM memories ORDER BY importance DESC, created_at")
        }
    }

    /// The memories matching any of `words` (BM25 over title, body and tags, porter-stemmed), best first.
    public func keywordSearch(_ words: [String], limit: Int) async throws -> [String] {
        guard !words.isEmpty else { return [] }
        return try await writer.read { db in
            if db.dialect == .postgres {
                // Each word's English stems, OR-ed; ranked by PostgreSQL's cover density (this search only answers
                // while the memory bank's own BM25 index is being built).
                let query = Array(repeating: "plainto_tsquery('english', ?)", count: words.count).joined(
                    separator: " || "
                )
                return try db.values(
                    String.self,
                    """
                    SELECT id FROM memory_fts, (SELECT \(query) AS query) AS q WHERE document @@ q.query
                    ORDER BY ts_rank_cd(document, q.query) DESC, id LIMIT ?
                    """,
                    SQLArguments(words.map { .text($0) } + [.integer(Int64(limit))])
                )
            }
            // Each word quoted, so any text is a valid FTS5 query; the words are OR-ed.
            let match = words.map { "\"\($0)\"" }.joined(separator: " OR ")
            // Ranked by rowid first, the id read for the top `limit` only: reading a column of every match (the FTS
            // table keeps its content in one record per memory, body included) cost more than the ranking.
            return try db.values(
                String.self,
                """
                SELECT memory_fts.id FROM (
                    SELECT rowid, bm25(memory_fts, 0, 2.0, 1.0, 1.0) AS score FROM memory_fts
                    WHERE memory_fts MATCH ? ORDER BY score LIMIT ?
                ) AS ranked JOIN memory_fts ON memory_fts.rowid = ranked.rowid
                ORDER BY ranked.score
                """,
                [match, limit]
            )
        }
    }

    /// Every memory's full-text row as FTS5 indexed it (id, title, body, tags), in rowid order: the memory bank
    /// builds its in-memory keyword index from these when it opens.
    ///
    /// Synchronous, for the memory bank's initializer (as ``embeddings(by:)``): never call it from async code.
    public func forEachFullTextRow(
        _ body: (_ id: String, _ title: String, _ text: String, _ tags: String) throws -> Void
    ) throws {
        try writer.readHere { db in
            let order = db.dialect == .sqlite ? "rowid" : "id"
            for row in try db.rows("SELECT id, title, body, tags FROM memory_fts ORDER BY \(order)") {
                try body(row["id"], row["title"], row["body"], row["tags"])
            }
        }
    }

    // MARK: Vectors

    /// The stored vectors made by `model`, with their memories' ids.
    ///
    /// Synchronous, for the memory bank's initializer, which loads them once when the gateway starts: it blocks
    /// its thread, so never call it from async code.
    public func embeddings(by model: String) throws -> [(id: String, embedding: Data)] {
        try writer.readHere { db in
            try db.rows("SELECT id, embedding FROM memories WHERE embedding IS NOT NULL AND embedded_with = ?", [model])
                .map { ($0["id"], $0["embedding"]) }
        }
    }

    /// Memory `id`'s vector from `model`, if it has one.
    public func embedding(of id: String, by model: String) async throws -> Data? {
        try await writer.read { db in
            try db.value(Data.self, "SELECT embedding FROM memories WHERE id = ? AND embedded_with = ?", [id, model])
        }
    }

    /// The memories without a vector from the model bound to `?`: never embedded, or embedded by another model.
    private static func unembeddedCondition(_ dialect: SQLDialect) -> String {
        "embedding IS NULL OR embedded_with \(dialect == .sqlite ? "IS NOT" : "IS DISTINCT FROM") ?"
    }

    /// How many memories have no vector from `model` yet: the embedding backlog.
    public func unembeddedCount(by model: String) async throws -> Int {
        try await writer.read { db in
            try db.value(
                Int.self,
                "SELECT COUNT(*) FROM memories WHERE \(Self.unembeddedCondition(db.dialect))",
                [model]
            ) ?? 0
        }
    }

    /// The memories without a vector from `model` (never embedded, or embedded by another model).
    public func unembedded(by model: String) async throws -> [String] {
        try await writer.read { db in
            try db.values(String.self, "SELECT id FROM memories WHERE \(Self.unembeddedCondition(db.dialect))", [model])
        }
    }

    /// Stores the vector `model` made for memory `id`.
    public func setEmbedding(_ embedding: Data, by model: String, for id: String) async throws {
        try await writer.transaction { db in
            try db.execute("UPDATE memories SET embedding = ?, embedded_with = ? WHERE id = ?", [embedding, model, id])
        }
    }

    /// The cached vector `model` made for `query`, if any.
    public func queryEmbedding(_ query: String, by model: String) async throws -> Data? {
        try await writer.read { db in
            try db.value(
                Data.self,
                "SELECT embedding FROM query_embeddings WHERE model = ? AND query = ?",
                [model, query]
            )
        }
    }

    /// Caches the vector `model` made for `query`.
    public func cacheQueryEmbedding(_ embedding: Data, for query: String, by model: String) async throws {
        try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO query_embeddings (model, query, embedding) VALUES (?, ?, ?)
                ON CONFLICT (model, query) DO UPDATE SET embedding = excluded.embedding
                """,
                [model, query, embedding]
            )
        }
    }
}
