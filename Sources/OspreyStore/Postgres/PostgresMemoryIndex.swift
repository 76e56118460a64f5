import Logging
import PostgresNIO

/// The memory index's search half in PostgreSQL: full text with English stemming (`tsvector`, BM25, the title
/// weighted above the text) and each memory's vector stored beside its row, for the same reciprocal rank fusion the
/// SQLite index feeds.
public struct PostgresMemoryIndex: Sendable {
    let client: PostgresClient
    let logger: Logger

    /// Adds or replaces a memory's text (its vector is kept when the text is unchanged, dropped otherwise).
    public func index(id: String, title: String = "", text: String) async throws {
        try await PostgresStore.translating {
            try await client.rows(
                """
                INSERT INTO memory_index (id, title, text) VALUES (\(id), \(title), \(text))
                ON CONFLICT (id) DO UPDATE SET title = excluded.title, text = excluded.text,
                    vector = CASE WHEN memory_index.text = excluded.text THEN memory_index.vector END
                """,
                logger: logger
            )
        }
    }

    /// Stores a memory's vector; false when no memory has this id.
    @discardableResult
    public func setVector(id: String, _ vector: [Float]) async throws -> Bool {
        try await PostgresStore.translating {
            try await !client.rows(
                "UPDATE memory_index SET vector = \(vector) WHERE id = \(id) RETURNING 1",
                logger: logger
            ).isEmpty
        }
    }

    /// Removes a memory; false when there was none.
    @discardableResult
    public func remove(id: String) async throws -> Bool {
        try await PostgresStore.translating {
            try await !client.rows("DELETE FROM memory_index WHERE id = \(id) RETURNING 1", logger: logger).isEmpty
        }
    }

    /// The ids whose text matches any stemmed word of `query`, best first by BM25 (at most `depth`).
    ///
    /// The query's words become an OR of their English stems, as FTS5 is asked on the SQLite side. Ranked by Okapi
    /// BM25 (k1 1.2, b 0.75) over the `tsvector`'s lexemes, each occurrence in the title counted twice: PostgreSQL's
    /// own `ts_rank_cd` and `ts_rank` know no inverse document frequency and rank Cranfield far worse (nDCG@10 0.249
    /// and 0.339 against BM25's 0.38, in `osprey-bench memory --postgres`).
    public func keywordRanking(_ query: String, depth: Int) async throws -> [String] {
        try await PostgresStore.translating {
            try await client.rows(
                """
                WITH terms AS (
                    SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('english', \(query)))) AS lexeme),
                q AS (SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS query FROM terms),
                corpus AS (SELECT count(*)::float8 AS n, GREATEST(avg(length(tsv)), 1)::float8 AS average
                           FROM memory_index),
                hits AS (
                    SELECT m.id, length(m.tsv)::float8 AS length, u.lexeme,
                        COALESCE(array_length(array_positions(u.weights::text[], 'A'), 1), 0)::float8
                            + array_length(u.positions, 1)::float8 AS tf
                    FROM memory_index m, q, unnest(m.tsv) AS u
                    WHERE q.query IS NOT NULL AND m.tsv @@ q.query AND u.lexeme IN (SELECT lexeme FROM terms)),
                -- Every document holding a query word matches the OR query, so a word's document frequency is its count
                -- among the hits.
                frequency AS (SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme)
                SELECT h.id FROM hits h JOIN frequency f USING (lexeme), corpus c
                GROUP BY h.id
                ORDER BY sum(ln(1 + (c.n - f.df + 0.5) / (f.df + 0.5))
                    * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * h.length / c.average))) DESC, h.id
                LIMIT \(depth)
                """,
                logger: logger
            ).map { try $0.decode(String.self) }
        }
    }

    /// Every stored vector with its memory's id.
    public func vectors() async throws -> [(id: String, vector: [Float])] {
        try await PostgresStore.translating {
            try await client.rows("SELECT id, vector FROM memory_index WHERE vector IS NOT NULL", logger: logger).map {
                let (id, vector) = try $0.decode((String, [Float]).self)
                return (id, vector)
            }
        }
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS memory_index (
            id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, vector REAL[],
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', text), 'B')) STORED)
        """,
        "CREATE INDEX IF NOT EXISTS memory_index_text ON memory_index USING GIN (tsv)",
    ]
}
