import ArgumentParser
import Foundation
import OspreyCore
import OspreyEmbeddings
import OspreyMemory
import OspreyStore

/// `osprey-bench memory`: retrieval quality on the Cranfield collection (nDCG@10 of BM25, vectors and their RRF
/// fusion through the real memory bank), query latency, and the Swift MiniLM's embedding speed.
struct MemoryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "nDCG@10 on Cranfield (BM25, MiniLM vectors, RRF), search latency, embeddings/s."
    )
    @Option(help: "The Cranfield directory (cran.all.1400.xml, cran.qry.xml, cranqrel.trec.txt, minilm.npz).")
    var data = "../shared/data/cranfield"
    @Option(help: "The all-MiniLM-L6-v2 directory, to time the Swift embedder (skipped when absent).")
    var model = (ProcessInfo.processInfo.environment["HOME"] ?? "/root") + "/.cache/osprey/models/all-minilm-l6-v2"
    @Option(help: "Documents to embed with the Swift MiniLM for the speed figure.") var embed = 20
    @Flag(help: "Rank with the Swift MiniLM's own vectors (its fastest kernels here) instead of the reference ones.")
    var ownVectors = false
    @Flag(help: "Tune RRF's k and the vector weight on the odd queries and report the even ones.") var tune = false
    @Option(help: "Memories for the scale run (e.g. 100000: Cranfield texts and vectors, varied); 0 skips it.")
    var scale = 0
    @Flag(help: "Also index Cranfield in PostgreSQL (a private server) and report its nDCG@10 beside SQLite's.")
    var postgres = false
    @Flag(help: "Also measure search through a real gateway's REST API (needs the release `osprey` beside this).")
    var api = false
    @Option(help: "Port for the gateway of --api.") var apiPort = 18598

    /// Answers with the reference vectors (sentence-transformers' all-MiniLM-L6-v2, which the Swift embedder
    /// matches at cosine ≥ 0.999 on every Cranfield text), so quality is measured without an hour of CPU.
    struct ReferenceEmbedder: Embedder {
        let table: [String: [Float]]
        var model: String { "all-MiniLM-L6-v2" }
        var dimensions: Int { 384 }
        func embed(_ texts: [String]) async throws -> [[Float]] {
            try texts.map { text in
                guard let vector = table[text] else {
                    throw ValidationError("no reference vector for '\(text.prefix(40))'")
                }
                return vector
            }
        }
    }

    func run() async throws {
        let directory = URL(fileURLWithPath: data)
        let collection = try CranfieldCollection(directory: directory)
        let archive = try NumPyArchive(contentsOf: directory.appendingPathComponent("minilm.npz"))
        guard let documents = try archive.arrays["docs"]?.floatRows(),
            let queries = try archive.arrays["queries"]?.floatRows()
        else { throw ValidationError("minilm.npz has no docs/queries arrays") }
        // qrels: "query 0 doc relevance", queries numbered by their order in the query file.
        var relevant: [Int: [String: Int]] = [:]
        for line in try String(contentsOf: directory.appendingPathComponent("cranqrel.trec.txt"), encoding: .utf8)
            .split(whereSeparator: \.isNewline)  // the file has CRLF line ends
        {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count == 4, let query = Int(fields[0]), let grade = Int(fields[3]), grade > 0 else { continue }
            relevant[query, default: [:]][String(fields[2])] = grade
        }
        var table: [String: [Float]] = [:]
        for (index, document) in collection.documents.enumerated() {
            table[document.text.trimmingCharacters(in: .whitespacesAndNewlines)] = documents[index]
        }
        for (index, query) in collection.queries.enumerated() { table[query] = queries[index] }
        if ownVectors {
            let embedder = try MiniLMEmbedder(directory: URL(fileURLWithPath: model))
            let texts = Array(table.keys)
            let vectors = try await embedder.embed(texts)
            let lowest =
                zip(texts, vectors).map { text, vector in
                    zip(table[text] ?? [], vector).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                }.min() ?? 1
            table = Dictionary(uniqueKeysWithValues: zip(texts, vectors))
            print(
                "  ranking with the Swift MiniLM's vectors (\(embedder.kernelDescription)), lowest cosine to the reference"
                    + String(format: " %.6f over %d texts", lowest, texts.count)
            )
        }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let store = try Store.open(
            path: scratch.appendingPathComponent("osprey.db").path,
            ledgerKey: Array(repeating: 5, count: 32),
            durability: .normal
        )
        let bank = try MemoryBank(
            directory: scratch.appendingPathComponent("memory"),
            store: store,
            embedder: ReferenceEmbedder(table: table)
        )
        let clock = ContinuousClock()
        var number: [String: String] = [:]
        let indexing = try await clock.measure { number = try await Self.store(collection, in: bank) }
        print(
            "Cranfield: \(collection.documents.count) documents, \(collection.queries.count) queries; indexed in \(indexing)"
        )

        var totals = (keyword: 0.0, vector: 0.0, fused: 0.0, search: 0.0)
        var halves = [0.0, 0.0]  // memory search on the odd-numbered queries, and on the even ones
        let measured = try await Self.ask(collection.queries, of: bank)
        let searchTimes = measured.map(\.milliseconds)
        var runs: [(keyword: [String], vector: [String], grades: [String: Int])] = []
        for (index, run) in measured.enumerated() {
            let grades = relevant[index + 1] ?? [:]
            runs.append((run.keyword.map { number[$0] ?? "" }, run.vector.map { number[$0] ?? "" }, grades))
            func ndcg(_ ids: [String]) -> Double { Self.ndcg(ids.prefix(10).map { number[$0] ?? "" }, grades) }
            totals.keyword += ndcg(run.keyword)
            totals.vector += ndcg(run.vector)
            totals.fused += ndcg(run.fused)
            totals.search += ndcg(run.search)
            halves[index % 2] += ndcg(run.search)
        }
        let count = Double(collection.queries.count)
        print(
            String(
                format:
                    "  nDCG@10  FTS5 BM25 %.3f   MiniLM cosine %.3f   RRF fused %.3f   memory search (fused, boosts, dedupe) %.3f",
                totals.keyword / count,
                totals.vector / count,
                totals.fused / count,
                totals.search / count
            )
        )
        print(
            String(
                format: "  memory search nDCG@10 on the odd queries %.3f, on the even (held-out) ones %.3f",
                halves[0] / Double((runs.count + 1) / 2),
                halves[1] / Double(runs.count / 2)
            )
        )
        if tune {
            Self.tuneFusion(runs)
            try await Self.tuneFeedback(bank, queries: collection.queries, grades: runs.map(\.grades), number: number)
        }
        let search = Self.percentiles(searchTimes)
        print(
            String(
                format:
                    "  search latency p50 %.2f ms p95 %.2f ms mean %.2f ms (1,400 memories, exact vector search, cached query vectors)",
                search.p50,
                search.p95,
                searchTimes.reduce(0, +) / Double(searchTimes.count)
            )
        )
        try await compareKeywordRankings(
            collection: collection,
            store: store,
            memory: scratch.appendingPathComponent("memory")
        )

        if api {
            try await apiRun(
                collection: collection,
                table: table,
                grades: collection.queries.indices.map { relevant[$0 + 1] ?? [:] }
            )
        }

        if postgres {
            try await PostgresRetrieval.measure(
                collection: collection,
                embedder: ReferenceEmbedder(table: table),
                grades: collection.queries.indices.map { relevant[$0 + 1] ?? [:] }
            )
        }

        if scale > 0 {
            try await scaleRun(collection: collection, documents: documents, queries: queries, table: table)
        }

        let modelDirectory = URL(fileURLWithPath: model)
        guard embed > 0,
            FileManager.default.fileExists(atPath: modelDirectory.appendingPathComponent("model.safetensors").path)
        else {
            print("  (Swift MiniLM speed skipped: no model at \(model))")
            return
        }
        // FP32 products beside BF16 ones where the CPU has them, in the same run: the anchor for what rounding to
        // bfloat16 gains and what it costs in agreement with the reference.
        let sample = collection.documents.prefix(embed).map(\.text)
        let full = try MiniLMEmbedder(directory: modelDirectory, bfloat16: false)
        let fullRate = try await measureEncoder(full, sample: sample, reference: documents)
        let rounded = try MiniLMEmbedder(directory: modelDirectory)
        if rounded.kernelDescription != full.kernelDescription {
            let roundedRate = try await measureEncoder(rounded, sample: sample, reference: documents)
            print(String(format: "  BF16 / FP32 documents per CPU second: %.2f×", roundedRate / fullRate))
        }
    }

    /// Embeds `sample` one document at a time with `embedder`, prints its rate, its lowest cosine to `reference`
    /// and its arithmetic beside the peak of its kernels, and returns its documents per CPU second.
    func measureEncoder(
        _ embedder: MiniLMEmbedder,
        sample: [String],
        reference documents: [[Float]]
    ) async throws
        -> Double
    {
        let clock = ContinuousClock()
        var worst: Float = 1
        let cpuBefore = AgentBench.cpuSeconds()
        let elapsed = try await clock.measure {
            for (index, text) in sample.enumerated() {
                let vector = try await embedder.embed([text])[0]
                worst = min(worst, zip(vector, documents[index]).reduce(0) { $0 + $1.0 * $1.1 })
            }
        }
        let (embedSeconds, embedAtto) = elapsed.components
        let total = Double(embedSeconds) + Double(embedAtto) / 1e18
        // The encoder spreads one document's rows and heads over the cores: per CPU second is the per-core rate.
        let cpu = AgentBench.cpuSeconds() - cpuBefore
        print(
            String(
                format:
                    "  Swift MiniLM (%@ kernels): %d documents in %.2f s = %.1f embeddings/s, %.1f per CPU second, lowest cosine to the reference %.6f",
                embedder.kernelDescription as NSString,
                sample.count,
                total,
                Double(sample.count) / total,
                Double(sample.count) / cpu,
                worst
            )
        )
        // The anchor: the model's own arithmetic at this core's measured peak multiply-add rate.
        let tokens = sample.map { embedder.tokenizer.encode($0).count }
        let operations = tokens.reduce(0) { $0 + embedder.floatingPointOperations(tokens: $1) }
        let rate = operations / cpu
        var line = String(
            format: "  encoder arithmetic: %.0f tokens and %.2f GFLOP a document on average; %.1f GFLOP per CPU second",
            Double(tokens.reduce(0, +)) / Double(max(sample.count, 1)),
            operations / Double(max(sample.count, 1)) / 1e9,
            rate / 1e9
        )
        if let peak = embedder.peakFloatingPointOperationsPerSecond() {
            line += String(
                format:
                    "; this core's peak for these kernels %.1f GFLOP/s (%.0f%% of it), at which the ceiling is %.1f documents per CPU second",
                peak / 1e9,
                rate / peak * 100,
                peak / (operations / Double(max(sample.count, 1)))
            )
        }
        print(line)
        return Double(sample.count) / cpu
    }

    /// The in-memory keyword index beside the store's FTS5 table (its anchor) on the same memories and queries:
    /// how long the bank takes to open (the index is built then), each ranking's p50 and p95, and how many of the
    /// queries they rank the same.
    func compareKeywordRankings(collection: CranfieldCollection, store: Store, memory: URL) async throws {
        let clock = ContinuousClock()
        let opened = clock.now
        let bank = try MemoryBank(directory: memory, store: store, embedder: nil)
        while bank.keywordSearchMode != "index" { try await Task.sleep(for: .milliseconds(1)) }
        let opening = clock.now - opened
        var (inMemory, fullText): ([Double], [Double]) = ([], [])
        var same = 0
        for query in collection.queries {
            var (ours, theirs): ([String], [String]) = ([], [])
            inMemory.append(
                (try await clock.measure { ours = try await bank.rankings(query, depth: 50).keyword }).seconds * 1000
            )
            fullText.append(
                (try await clock.measure { theirs = try await bank.fullTextRanking(query, limit: 50) }).seconds * 1000
            )
            if ours == theirs { same += 1 }
        }
        let (ours, theirs) = (Self.percentiles(inMemory), Self.percentiles(fullText))
        print(
            String(
                format:
                    "  keyword ranking (top 50): in-memory index p50 %.3f ms p95 %.3f ms; FTS5 bm25() p50 %.3f ms p95 %.3f ms (%.1fx); same ranking for %d of %d queries; index built in the background in %.1f ms",
                ours.p50,
                ours.p95,
                theirs.p50,
                theirs.p95,
                theirs.p50 / ours.p50,
                same,
                collection.queries.count,
                opening.seconds * 1000
            )
        )
    }

    /// The median and 95th percentile of `times`.
    static func percentiles(_ times: [Double]) -> (p50: Double, p95: Double) {
        let sorted = times.sorted()
        guard !sorted.isEmpty else { return (0, 0) }
        return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 95 / 100)])
    }

    /// Search at `scale` memories: each a Cranfield abstract with a third of its words dropped at random and its
    /// reference vector moved by noise (cosine ≈ 0.85 to the original), so the copies are neither duplicates nor
    /// strangers. Measures the vector ranking and the whole search, exact and through the HNSW graph, over the
    /// same store.
    func scaleRun(
        collection: CranfieldCollection,
        documents: [[Float]],
        queries: [[Float]],
        table: [String: [Float]]
    ) async throws {
        var generator = SplitMix64(seed: 2026)
        var table = table
        var texts: [String] = []
        texts.reserveCapacity(scale)
        for number in 0..<scale {
            let source = number % documents.count
            let words = collection.documents[source].text.split(separator: " ")
            let kept = words.filter { _ in Double.random(in: 0..<1, using: &generator) > 1.0 / 3 }
            let text = "\(kept.joined(separator: " ")) (note \(number))".trimmingCharacters(in: .whitespaces)
            // Gaussian noise (Box-Muller) of 0.0316 per component: cosine ≈ 0.85 to the original over 384 floats.
            var vector = documents[source].map { value -> Float in
                let u = Double.random(in: Double.ulpOfOne..<1, using: &generator)
                let v = Double.random(in: 0..<1, using: &generator)
                return value + Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v) * 0.0316)
            }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            vector = vector.map { $0 / norm }
            table[text] = vector
            texts.append(text)
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let store = try Store.open(
            path: scratch.appendingPathComponent("osprey.db").path,
            ledgerKey: Array(repeating: 6, count: 32),
            durability: .normal
        )
        let embedder = ReferenceEmbedder(table: table)
        let memory = scratch.appendingPathComponent("memory")
        let clock = ContinuousClock()
        let loading = try await clock.measure {
            let bank = try MemoryBank(directory: memory, store: store, embedder: embedder, vectorGraphThreshold: .max)
            for text in texts {
                _ = try await bank.store(text, source: .user, provenance: "bench", trust: .trusted, actor: .bench)
            }
            try await bank.embedPending()
        }
        print("scale: \(scale) memories stored and embedded in \(loading)")
        let exact = try MemoryBank(directory: memory, store: store, embedder: embedder, vectorGraphThreshold: .max)
        let start = clock.now
        // The graph whatever the scale: with the default threshold (10,000) a smaller run never built one, and this
        // waited for it forever.
        let graph = try MemoryBank(directory: memory, store: store, embedder: embedder, vectorGraphThreshold: 1)
        while graph.vectorSearchMode != "graph" { try await Task.sleep(for: .milliseconds(50)) }
        print("  HNSW graph built in the background in \(clock.now - start)")
        func percentiles(
            _ bank: MemoryBank,
            _ body: (MemoryBank, String) async throws -> Void
        ) async throws
            -> (p50: Double, p95: Double)
        {
            var times: [Double] = []
            for query in collection.queries {
                times.append(try await clock.measure { try await body(bank, query) }.seconds * 1000)
            }
            return Self.percentiles(times)
        }
        var overlap = 0
        for query in collection.queries {
            let truth = Set(try await exact.rankings(query, depth: 10).vector)
            overlap += try await graph.rankings(query, depth: 10).vector.filter { truth.contains($0) }.count
        }
        print(
            String(
                format: "  vector ranking recall@10, graph against exact: %.3f",
                Double(overlap) / Double(10 * collection.queries.count)
            )
        )
        try await compareKeywordRankings(collection: collection, store: store, memory: memory)
        for (name, bank) in [("exact", exact), ("graph", graph)] {
            let ranking = try await percentiles(bank) { _ = try await $0.rankings($1, depth: 50) }
            let search = try await percentiles(bank) { _ = try await $0.search($1, limit: 10) }
            print(
                String(
                    format:
                        "  %@: keyword + vector rankings p50 %.2f ms p95 %.2f ms; whole search p50 %.2f ms p95 %.2f ms",
                    name as NSString,
                    ranking.p50,
                    ranking.p95,
                    search.p50,
                    search.p95
                )
            )
        }
    }

    /// Relevance feedback tuned on the odd-numbered queries and reported on the even ones: the whole memory search
    /// (`MemoryBank.search`) for each setting of a small grid, beside no feedback and the bank's standard setting.
    static func tuneFeedback(
        _ bank: MemoryBank,
        queries: [String],
        grades: [[String: Int]],
        number: [String: String]
    ) async throws {
        func halves(_ feedback: MemoryBank.Feedback?) async throws -> (odd: Double, even: Double) {
            var totals = [0.0, 0.0]
            for (index, query) in queries.enumerated() {
                let hits = try await bank.search(query, limit: 10, feedback: feedback)
                totals[index % 2] += ndcg(hits.prefix(10).map { number[$0.record.id] ?? "" }, grades[index])
            }
            return (totals[0] / Double((queries.count + 1) / 2), totals[1] / Double(queries.count / 2))
        }
        var best: (feedback: MemoryBank.Feedback, odd: Double, even: Double)?
        for documents in [5, 10] {
            for expansion in [10, 20, 30] {
                for originalWeight in [0.4, 0.5, 0.6] {
                    for vectorShare: Float in [0, 0.3, 0.6] {
                        var feedback = MemoryBank.Feedback()
                        feedback.keywordDocuments = documents
                        feedback.expansion = expansion
                        feedback.originalWeight = originalWeight
                        feedback.vectorShare = vectorShare
                        let (odd, even) = try await halves(feedback)
                        if odd > best?.odd ?? -1 { best = (feedback, odd, even) }
                    }
                }
            }
        }
        let none = try await halves(nil)
        let standard = try await halves(.standard)
        guard let best else { return }
        print(
            String(
                format:
                    "  feedback tuned on the odd queries: %d keyword documents, %d terms, original weight %.1f, vector share %.1f: nDCG@10 %.3f odd, %.3f even; none: %.3f odd, %.3f even; the bank's standard: %.3f odd, %.3f even",
                best.feedback.keywordDocuments,
                best.feedback.expansion,
                best.feedback.originalWeight,
                Double(best.feedback.vectorShare),
                best.odd,
                best.even,
                none.odd,
                none.even,
                standard.odd,
                standard.even
            )
        )
    }

    /// RRF's `k` and the vector ranking's weight, chosen on the odd-numbered queries and reported on the even ones.
    static func tuneFusion(_ runs: [(keyword: [String], vector: [String], grades: [String: Int])]) {
        func mean(_ half: Int, k: Double, weight: Double, depth: Int) -> Double {
            let chosen = runs.indices.filter { $0 % 2 == half }
            return chosen.reduce(0.0) { total, index in
                let run = runs[index]
                let fused = ReciprocalRankFusion.fuse(
                    [Array(run.keyword.prefix(depth)), Array(run.vector.prefix(depth))],
                    k: k,
                    weights: [1, weight]
                )
                return total + ndcg(fused.prefix(10).map(\.id), run.grades)
            } / Double(chosen.count)
        }
        let current = MemoryBank.fusion
        var best = (score: 0.0, k: 60.0, weight: 1.0, depth: 100)
        for depth in [20, 50, 100] {
            for k in [1.0, 2, 5, 10, 20, 30, 45, 60, 90, 150] {
                for weight in [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3] {
                    let score = mean(0, k: k, weight: weight, depth: depth)
                    if score > best.score { best = (score, k, weight, depth) }
                }
            }
        }
        print(
            String(
                format:
                    "  RRF tuned on the %d odd queries: k %.0f, vector weight %.2f, depth %d: nDCG@10 %.3f there, %.3f on the %d even ones (k 60, weight 1, depth 100: %.3f odd, %.3f even; the bank's k %.0f, weight %.2f, depth %d: %.3f odd, %.3f even)",
                (runs.count + 1) / 2,
                best.k,
                best.weight,
                best.depth,
                best.score,
                mean(1, k: best.k, weight: best.weight, depth: best.depth),
                runs.count / 2,
                mean(0, k: 60, weight: 1, depth: 100),
                mean(1, k: 60, weight: 1, depth: 100),
                current.k,
                current.vectorWeight,
                current.depth,
                mean(0, k: current.k, weight: current.vectorWeight, depth: current.depth),
                mean(1, k: current.k, weight: current.vectorWeight, depth: current.depth)
            )
        )
    }

    /// nDCG@10 with the graded relevance as gain.
    /// One query through the bank: its keyword and vector rankings, their fusion, the memory search's hits (ids,
    /// best first), and how long the search took.
    struct QueryRun {
        var keyword: [String]
        var vector: [String]
        var fused: [String]
        var search: [String]
        var milliseconds: Double
    }

    /// Asks `bank` each query, in order.
    static func ask(_ queries: [String], of bank: MemoryBank) async throws -> [QueryRun] {
        let clock = ContinuousClock()
        var runs: [QueryRun] = []
        for query in queries {
            let (keyword, vector) = try await bank.rankings(query, depth: MemoryBank.fusion.depth)
            let fused = ReciprocalRankFusion.fuse(
                [keyword, vector],
                k: MemoryBank.fusion.k,
                weights: [1, MemoryBank.fusion.vectorWeight]
            ).map(\.id)
            var hits: [MemoryBank.Hit] = []
            let time = try await clock.measure { hits = try await bank.search(query, limit: 10) }
            runs.append(
                QueryRun(
                    keyword: keyword,
                    vector: vector,
                    fused: fused,
                    search: hits.map(\.record.id),
                    milliseconds: time.seconds * 1000
                )
            )
        }
        return runs
    }

    /// Stores every Cranfield document in `bank` and embeds them; each memory's id → its document's number.
    static func store(_ collection: CranfieldCollection, in bank: MemoryBank) async throws -> [String: String] {
        var number: [String: String] = [:]
        for document in collection.documents {
            let record = try await bank.store(
                document.text,
                source: .user,
                provenance: "cranfield \(document.number)",
                trust: .trusted,
                actor: .bench
            )
            number[record.id] = document.number
        }
        try await bank.embedPending()
        return number
    }

    static func ndcg(_ ranked: [String], _ grades: [String: Int]) -> Double {
        func dcg(_ gains: [Int]) -> Double {
            gains.enumerated().reduce(0) { $0 + Double($1.element) / log2(Double($1.offset) + 2) }
        }
        let ideal = dcg(Array(grades.values.sorted(by: >).prefix(10)))
        guard ideal > 0 else { return 0 }
        return dcg(ranked.map { grades[$0] ?? 0 }) / ideal
    }
}
