public import CoreMetrics
public import Foundation
import Logging
public import OspreyCore
import OspreyEmbeddings
public import OspreyStore
import Synchronization

/// The agent's long-term memory: Markdown files under `memory/` are the ground truth; SQLite holds a derived
/// index (FTS5 with BM25 and porter stemming, plus vectors) that ``reindex()`` rebuilds from the files.
/// Searches run on in-memory copies made when the bank opens (the vectors, and a ``KeywordIndex`` that ranks as
/// FTS5 does, built in the background), so one bank is the one writer of a store's memories.
///
/// Storing returns at once: the vector follows in the background (``run()``), and until it is there the memory
/// is found by keywords alone. Search fuses the keyword and vector rankings with Reciprocal Rank Fusion, then
/// boosts by importance and recency and drops near-duplicates.
public final class MemoryBank: Sendable {
    /// One search result.
    public struct Hit: Hashable, Sendable {
        public var record: MemoryRecord
        public var score: Double
        public var keywordRank: Int?
        public var vectorRank: Int?
    }

    /// Search filters; nil means any.
    public struct Filter: Hashable, Sendable {
        public var types: Set<MemoryType>?
        public var tags: Set<String>?
        public var trust: MemoryTrust?
        public var since: Date?

        public init(
            types: Set<MemoryType>? = nil,
            tags: Set<String>? = nil,
            trust: MemoryTrust? = nil,
            since: Date? = nil
        ) {
            self.types = types
            self.tags = tags
            self.trust = trust
            self.since = since
        }

        func admits(_ record: MemoryRecord) -> Bool {
            if let types, !types.contains(record.type) { return false }
            if let tags, tags.isDisjoint(with: record.tags) { return false }
            if let trust, record.trust != trust { return false }
            if let since, record.created < since { return false }
            return true
        }
    }

    /// What a reindex found.
    public struct Report: Hashable, Sendable {
        public var indexed = 0
        public var unchanged = 0
        public var removed = 0
        /// On a database other gateways share: files written here from rows another gateway stored, and files
        /// removed here because another gateway forgot their memory.
        public var fromCluster = 0
        /// Files that do not parse, with the reason: reported, never silently dropped.
        public var invalid: [String: String] = [:]
    }

    /// How the keyword and vector rankings are fused: RRF's `k`, the vector ranking's weight (the keyword ranking's
    /// is 1), and how deep each ranking goes. The textbook values: tuned on the odd-numbered Cranfield queries
    /// (`osprey-bench memory --tune`: k 30, weight 0.75, depth 100), the whole search scored 0.421 on the even ones
    /// against 0.422 with these, so the tuning was not kept.
    public static let fusion = (k: 60.0, vectorWeight: 1.0, depth: 50)

    /// The least cosine similarity that counts as a vector match.
    public static let minimumSimilarity: Float = 0.2

    /// Pseudo-relevance feedback: a search takes its first rankings' best memories as relevant and searches again.
    /// The keyword query gains the `expansion` terms most typical of the best `keywordDocuments` keyword hits (RM3,
    /// the original words keeping `originalWeight` of the weight); the query's vector moves toward the mean vector
    /// of the best `vectorDocuments` fused hits (Rocchio, by `vectorShare`).
    /// The defaults are the standard setting: the best on the odd-numbered Cranfield queries (`osprey-bench memory
    /// --tune`: 0.484 there); on the even ones, held out, memory search scores 0.456 with it and 0.422 without.
    public struct Feedback: Hashable, Sendable {
        public var keywordDocuments = 5
        public var expansion = 30
        public var originalWeight = 0.6
        public var vectorDocuments = 5
        public var vectorShare: Float = 0.6

        public init() {}

        public static let standard = Feedback()
    }

    /// The stop words as index terms (stemmed), which relevance feedback never adds to a query.
    static let stopTerms: Set<String> = {
        var terms = Set<String>()
        for word in stopWords { PorterTokenizer.forEachTerm(in: word) { terms.insert($0) } }
        return terms
    }()

    public let directory: URL
    let store: Store
    let embedder: (any Embedder)?
    /// Vectors of the indexed memories: searched exactly (SIMD) while few, through an HNSW graph built in the
    /// background once they pass the threshold.
    let vectors: Mutex<AdaptiveVectorIndex>
    /// The keyword ranking's index, built in the background from the store's full-text rows when the bank opens and
    /// kept in step with every write (the store's FTS5 table stays the durable copy, and answers until it is built).
    let keywords = Mutex(KeywordIndexSlot())
    let pending: AsyncStream<String>
    let pendingSink: AsyncStream<String>.Continuation
    /// How long each search takes, keywords, vectors and fusion together.
    let searchLatency: CoreMetrics.Timer

    /// `vectorGraphThreshold`: how many vectors make an HNSW graph worth building (exact search costs about
    /// 0.15 ms per thousand 384-float vectors here; a graph search well under a millisecond at 100,000).
    public init(
        directory: URL,
        store: Store,
        embedder: (any Embedder)?,
        vectorGraphThreshold: Int = 10_000,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        searchLatency = CoreMetrics.Timer(label: "osprey_memory_search_seconds", factory: metrics)
        self.directory = directory
        self.store = store
        self.embedder = embedder
        var index = AdaptiveVectorIndex(dimension: embedder?.dimensions ?? 1, graphThreshold: vectorGraphThreshold)
        if let embedder {
            for (id, embedding) in try store.memories.embeddings(by: embedder.model) {
                try? index.add(Self.floats(embedding), for: id)
            }
        }
        vectors = Mutex(index)
        (pending, pendingSink) = AsyncStream<String>.makeStream()
        buildVectorGraphIfDue()
        buildKeywordIndex()
    }

    /// How keyword searches are answered now: `index` (in memory) or `full text, index building` (the store's FTS5
    /// table, which ranks the same).
    public var keywordSearchMode: String {
        keywords.withLock { $0.index != nil } ? "index" : "full text, index building"
    }

    /// Builds the keyword index off the opening thread (tens of milliseconds per thousand memories, seconds at
    /// 100,000), so opening the bank, and the gateway's start, do not wait for it.
    private func buildKeywordIndex() {
        let logger = Logger.current
        // Off the initializer's thread, as the vector graph's build: a bounded read of the store, then one install.
        Task.detached(priority: .utility) {
            do {
                let clock = ContinuousClock()
                let start = clock.now
                var built = KeywordIndex()
                try self.store.memories.forEachFullTextRow { id, title, body, tags in
                    built.add(id, fields: Self.keywordFields(title: title, body: body, tags: tags))
                }
                self.keywords.withLock { $0.install(built) }
                logger.debug(
                    "memory keyword index built",
                    metadata: ["memories": "\(built.count)", "took": "\(clock.now - start)"]
                )
            } catch {
                self.keywords.withLock { $0.abandon() }
                logger.error(
                    "memory keyword index build failed; keyword searches stay on the full-text table",
                    metadata: ["error": "\(error)"]
                )
            }
        }
    }

    /// How vector searches are answered now: `exact`, `exact, graph building` or `graph`.
    public var vectorSearchMode: String { vectors.withLock { $0.mode } }

    /// Past the threshold, builds the HNSW graph in the background; searches stay exact (and see every change)
    /// until it is installed, with the changes made during the build replayed onto it.
    func buildVectorGraphIfDue() {
        guard let snapshot = vectors.withLock({ $0.beginGraph() }) else { return }
        let logger = Logger.current
        Task.detached(priority: .utility) {
            do {
                let clock = ContinuousClock()
                let start = clock.now
                let graph = try AdaptiveVectorIndex.buildGraph(from: snapshot)
                try self.vectors.withLock { try $0.installGraph(graph) }
                logger.info(
                    "memory vector graph built",
                    metadata: ["vectors": "\(snapshot.count)", "took": "\(clock.now - start)"]
                )
            } catch {
                self.vectors.withLock { $0.abandonGraph() }
                logger.error("memory vector graph build failed; searches stay exact", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Writing

    /// Stores a new memory: validated, written to its Markdown file, indexed for keywords at once, embedded in the
    /// background. Untrusted sources are stored untrusted whatever the caller asked. `memory.stored` records it.
    public func store(
        _ body: String,
        title: String? = nil,
        type: MemoryType = .fact,
        tags: [String] = [],
        source: MemorySource,
        provenance: String,
        trust: MemoryTrust,
        importance: Double = 0.5,
        actor: Principal
    ) async throws -> MemoryRecord {
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw MemoryRequestError("memory content must not be empty") }
        // Content from tools and the web can never become trusted by asking.
        let trust: MemoryTrust = [.tool, .url].contains(source) ? .untrusted : trust
        let record = try MemoryRecord(
            id: MemoryRecord.randomID(),
            type: type,
            tags: tags,
            source: source,
            provenance: provenance,
            trust: trust,
            importance: importance,
            created: Date(),
            title: title,
            body: store.ledger.redactor.redact(trimmed)
        )
        try write(record)
        do {
            try await index(record, event: .memoryStored, actor: actor)
        } catch {
            // Not recorded (a full disk): its file goes too, or a later scan would make it a memory after all.
            try? FileManager.default.removeItem(at: file(for: record.id))
            throw error
        }
        pendingSink.yield(record.id)
        return record
    }

    /// Edits a memory's content (and title): its file rewritten, re-indexed at once, re-embedded in the background;
    /// `memory.updated` records it. Its type, source, provenance and trust stay what they were.
    public func update(_ id: String, body: String, title: String?, actor: Principal) async throws -> MemoryRecord {
        let current = try await get(id)
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw MemoryRequestError("memory content must not be empty") }
        let record = try MemoryRecord(
            id: current.id,
            type: current.type,
            tags: current.tags,
            source: current.source,
            provenance: current.provenance,
            trust: current.trust,
            importance: current.importance,
            created: current.created,
            lastUsed: current.lastUsed,
            title: title ?? current.title,
            body: store.ledger.redactor.redact(trimmed)
        )
        try write(record)
        do {
            try await index(record, event: .memoryUpdated, actor: actor)
        } catch {
            // Not recorded: the file goes back to what the index holds (else a later scan would take the edit for a
            // hand edit). Where even that cannot be written, that scan indexes the edit, as it does a hand edit.
            try? write(current)
            throw error
        }
        pendingSink.yield(record.id)
        return record
    }

    /// Removes a memory: its file, its index rows and its vector; `memory.forgotten` records it.
    public func forget(_ id: String, actor: Principal) async throws {
        let record = try await get(id)
        try? FileManager.default.removeItem(at: file(for: record.id))
        try await unindex(id, event: EventDraft(type: .memoryForgotten, actor: actor, payload: ["id": .string(id)]))
    }

    /// One memory; ``StoreError/notFound(kind:id:)`` for an unknown id.
    public func get(_ id: String) async throws -> MemoryRecord {
        guard id.range(of: #"^[A-Za-z0-9_-]{1,64}$"#, options: .regularExpression) != nil else {
            throw StoreError.notFound(kind: "memory", id: id)
        }
        let known = try await store.memories.contains(id)
        guard known, let text = try? String(contentsOf: file(for: id), encoding: .utf8) else {
            throw StoreError.notFound(kind: "memory", id: id)
        }
        do {
            return try MemoryRecord(markdown: text)
        } catch {
            throw MemoryRequestError("memory/\(id).md does not parse: \(error)")
        }
    }

    /// Rebuilds the index from the files: new and edited files are (re)indexed and re-embedded, rows whose file
    /// is gone are removed, and files that do not parse are reported.
    public func reindex(actor: Principal = .system) async throws -> Report {
        var report = Report()
        var seen: Set<String> = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let known = try await store.memories.contentHashes()
        // On a database other gateways share, the database is the memories' truth and these files are this
        // gateway's copy: a file whose memory another gateway forgot goes, and a row without a file here is a memory
        // another gateway stored, written out here (never removed).
        let shared = store.dialect == .postgres
        var forgotten: Set<String> = []
        // Read only when a file has no row (a new hand-written memory, or one forgotten elsewhere): the ledger is long.
        if shared, names.contains(where: { $0.hasSuffix(".md") && known[String($0.dropLast(3))] == nil }) {
            forgotten = Set(
                try await store.ledger.events(after: 0, filter: EventFilter(type: "memory.forgotten"), limit: 1_000_000)
                    .compactMap { $0.payload["id"]?.stringValue }
            )
        }
        for name in names.sorted() where name.hasSuffix(".md") {
            try Task.checkCancellation()
            let url = directory.appendingPathComponent(name)
            if shared, known[String(name.dropLast(3))] == nil, forgotten.contains(String(name.dropLast(3))) {
                try? FileManager.default.removeItem(at: url)
                let id = String(name.dropLast(3))
                _ = vectors.withLock { $0.remove(id) }
                keywords.withLock { $0.remove(id) }
                report.fromCluster += 1
                continue
            }
            if let id = try await bring(name, known: known, actor: actor, into: &report) { seen.insert(id) }
        }
        let missing = known.keys.filter { !seen.contains($0) }
        if shared {
            for (_, entry) in try await store.memories.entries(Array(missing)) {
                guard let record = MemoryRecord(entry: entry) else { continue }
                try write(record)
                // This gateway's indexes learn of it too: its words, and its vector (the row's, else made here).
                indexKeywords(of: entry)
                if let embedder {
                    if let data = try await store.memories.embedding(of: record.id, by: embedder.model) {
                        try vectors.withLock { try $0.add(Self.floats(data), for: record.id) }
                    } else {
                        pendingSink.yield(record.id)
                    }
                }
                report.fromCluster += 1
            }
            return report
        }
        for id in missing {
            try await unindex(id, event: nil)
            report.removed += 1
        }
        return report
    }

    /// Files under `memory/` that do not parse (for `osprey doctor`).
    public static func invalidFiles(in directory: URL) -> [String: String] {
        var invalid: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasSuffix(".md") {
            guard let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
                invalid[name] = "not UTF-8 text"
                continue
            }
            do {
                _ = try MemoryRecord(markdown: text)
            } catch {
                invalid[name] = "\(error)"
            }
        }
        return invalid
    }

    // MARK: Files and rows

    func file(for id: String) -> URL { directory.appendingPathComponent(id + ".md") }

    func write(_ record: MemoryRecord) throws {
        // The Markdown file is the memory's truth: synced before its name points at it, as the ledger's event is.
        try DurableFile.replace(file(for: record.id).path, bytes: Array(record.markdown().utf8))
    }

    func index(_ record: MemoryRecord, event: Event.Kind?, actor: Principal) async throws {
        let entry = record.entry(contentHash: Event.sha256Hex(record.markdown()))
        let draft = event.map { event in
            EventDraft(
                type: event,
                actor: actor,
                payload: [
                    "id": .string(record.id), "type": .string(record.type.rawValue),
                    "source": .string(record.source.rawValue), "trust": .string(record.trust.rawValue),
                    "provenance": .string(record.provenance), "bytes": .int(record.body.utf8.count),
                ]
            )
        }
        try await store.memories.index(entry, event: draft)
        _ = vectors.withLock { $0.remove(record.id) }
        indexKeywords(of: entry)
    }

    /// Puts an index row's words in the keyword index, replacing what it held under that id.
    func indexKeywords(of entry: Memories.Entry) {
        // Tokenized and stemmed before the lock, so searches do not wait for a long memory's terms.
        let document = KeywordIndex.document(
            Self.keywordFields(title: entry.title ?? "", body: entry.body, tags: entry.tags.joined(separator: " "))
        )
        keywords.withLock { $0.add(entry.id, document: document) }
    }

    static func data(_ vector: [Float]) -> Data {
        vector.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
