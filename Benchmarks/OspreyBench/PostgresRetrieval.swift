import Foundation
import OspreyEmbeddings
import OspreyMemory
import OspreyStore
import OspreyTesting

/// Cranfield through PostgreSQL's memory index: full text (`tsvector`, English stemming, BM25 in SQL), exact cosine
/// over the vectors stored beside the rows, and the same reciprocal rank fusion as the SQLite index.
enum PostgresRetrieval {
    static func measure(
        collection: CranfieldCollection,
        documents: [[Float]],
        queries: [[Float]],
        grades: [[String: Int]]
    ) async throws {
        let texts = collection.documents.map { (number: $0.number, text: $0.text) }
        let questions = collection.queries
        let server = try await PostgresServer()
        do {
            let store = PostgresStore(
                target: try PostgresTarget(url: server.url()),
                node: "bench",
                ledgerKey: Array(repeating: 5, count: 32)
            )
            try await store.withRunning { store in
                for (index, document) in texts.enumerated() {
                    try await store.memories.index(id: document.number, text: document.text)
                    try await store.memories.setVector(id: document.number, documents[index])
                }
                // The vectors read back from the database, searched exactly (as the SQLite side does at this size).
                var vectors = VectorIndex(dimension: 384)
                for (id, vector) in try await store.memories.vectors() { try vectors.add(vector, for: id) }
                var totals = (keyword: 0.0, vector: 0.0, fused: 0.0)
                let clock = ContinuousClock()
                var keywordTime = Duration.zero
                for (index, query) in questions.enumerated() {
                    var keyword: [String] = []
                    keywordTime += try await clock.measure {
                        keyword = try await store.memories.keywordRanking(query, depth: MemoryBank.fusion.depth)
                    }
                    let vector = try vectors.search(queries[index], k: MemoryBank.fusion.depth)
                        .filter { $0.score >= MemoryBank.minimumSimilarity }.map(\.id)
                    let fused = ReciprocalRankFusion.fuse(
                        [keyword, vector],
                        k: MemoryBank.fusion.k,
                        weights: [1, MemoryBank.fusion.vectorWeight]
                    ).map(\.id)
                    let relevant = grades[index]
                    totals.keyword += MemoryBench.ndcg(Array(keyword.prefix(10)), relevant)
                    totals.vector += MemoryBench.ndcg(Array(vector.prefix(10)), relevant)
                    totals.fused += MemoryBench.ndcg(Array(fused.prefix(10)), relevant)
                }
                let count = Double(questions.count)
                print(
                    String(
                        format:
                            "  PostgreSQL: nDCG@10  BM25 over tsvector %.3f   MiniLM cosine %.3f   RRF fused %.3f   (full text %.2f ms/query)",
                        totals.keyword / count,
                        totals.vector / count,
                        totals.fused / count,
                        keywordTime.seconds * 1000 / count
                    )
                )
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
