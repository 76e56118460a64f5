import Foundation
import OspreyCore
import OspreyMemory
import OspreyStore
import OspreyTesting

/// Cranfield through the memory bank on a PostgreSQL store, the path a gateway with `[store] backend = "postgres"`
/// takes: full text in an English `tsvector` ranked in SQL, the vectors stored beside the rows, the same fusion,
/// boosts and near-duplicate filter as on SQLite.
enum PostgresRetrieval {
    static func measure(
        collection: CranfieldCollection,
        embedder: some Embedder,
        grades: [[String: Int]]
    ) async throws {
        let server = try await PostgresServer()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            let store = try await Store.open(
                postgres: try PostgresTarget(url: server.url()),
                node: "bench",
                ledgerKey: Array(repeating: 5, count: 32)
            )
            defer { store.close() }
            let bank = try MemoryBank(directory: scratch, store: store, embedder: embedder)
            let number = try await MemoryBench.store(collection, in: bank)
            var totals = (keyword: 0.0, vector: 0.0, fused: 0.0, search: 0.0)
            let runs = try await MemoryBench.ask(collection.queries, of: bank)
            for (index, run) in runs.enumerated() {
                func ndcg(_ ids: [String]) -> Double {
                    MemoryBench.ndcg(ids.prefix(10).map { number[$0] ?? "" }, grades[index])
                }
                totals.keyword += ndcg(run.keyword)
                totals.vector += ndcg(run.vector)
                totals.fused += ndcg(run.fused)
                totals.search += ndcg(run.search)
            }
            let times = runs.map(\.milliseconds)
            let count = Double(collection.queries.count)
            let latency = MemoryBench.percentiles(times)
            print(
                String(
                    format:
                        "  PostgreSQL store: nDCG@10  tsvector %.3f   MiniLM cosine %.3f   RRF fused %.3f   memory search %.3f   (search p50 %.2f ms, p95 %.2f ms)",
                    totals.keyword / count,
                    totals.vector / count,
                    totals.fused / count,
                    totals.search / count,
                    latency.p50,
                    latency.p95
                )
            )
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
