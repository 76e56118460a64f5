public import Foundation
import Logging
public import OspreyCore
import OspreyEmbeddings
import OspreyStore
import Synchronization

extension MemoryBank {
    /// What a consolidation pass did.
    public struct Consolidation: Hashable, Sendable {
        public var merged = 0
        public var decayed = 0
        public var forgotten = 0
    }

    /// Merges near-duplicates (the more important survives, with the union of tags) and decays memories unused
    /// for `staleDays` whose importance is low; one that decays below 0.05 is forgotten.
    public func consolidate(
        now: Date = Date(),
        staleDays: Double = 30,
        actor: Principal = .system
    ) async throws -> Consolidation {
        var result = Consolidation()
        let ids = try await store.memories.idsByImportance()
        var gone: Set<String> = []
        for id in ids where !gone.contains(id) {
            guard let keeper = try? await get(id), let vector = vectors.withLock({ $0.vector(for: id) }) else {
                continue
            }
            let twins = try vectors.withLock { try $0.search(vector, k: 8, filter: { $0 != id && !gone.contains($0) }) }
                .filter { $0.score >= 0.97 }
            guard !twins.isEmpty else { continue }
            var merged = keeper
            for twin in twins {
                guard let other = try? await get(twin.id), other.trust == keeper.trust else { continue }
                merged.tags = Array(Set(merged.tags + other.tags)).sorted().prefix(MemoryRecord.maximumTags).map { $0 }
                merged.importance = max(merged.importance, other.importance)
                try await forget(other.id, actor: actor)
                gone.insert(other.id)
                result.merged += 1
            }
            if merged != keeper {
                try write(merged)
                try await index(merged, event: nil, actor: actor)
                pendingSink.yield(merged.id)
            }
        }
        for id in ids where !gone.contains(id) {
            guard var record = try? await get(id), record.importance < 0.3 else { continue }
            let last = record.lastUsed ?? record.created
            guard now.timeIntervalSince(last) > staleDays * 86_400 else { continue }
            record.importance = (record.importance * 0.5 * 100).rounded() / 100
            if record.importance < 0.05 {
                try await forget(id, actor: actor)
                result.forgotten += 1
            } else {
                try write(record)
                try await index(record, event: nil, actor: actor)
                pendingSink.yield(id)
                result.decayed += 1
            }
        }
        return result
    }

    // MARK: Embedding in the background

    /// Memories stored but not yet embedded by the configured model (they are found by keywords meanwhile); nil when
    /// no embedder is configured.
    public func embeddingBacklog() async throws -> Int? {
        guard let embedder else { return nil }
        return try await store.memories.unembeddedCount(by: embedder.model)
    }

    /// Embeds memories as they are stored or reindexed, until cancelled.
    public func run() async {
        guard let embedder else { return }
        // Memories left without a vector (a crash, a new model) are embedded first.
        let missing = (try? await store.memories.unembedded(by: embedder.model)) ?? []
        for id in missing { pendingSink.yield(id) }
        for await id in pending {
            // Shutdown must not wait for a backlog of embeddings: stop between items.
            if Task.isCancelled { return }
            do {
                try await embed(id, with: embedder)
            } catch is CancellationError {
                return
            } catch {
                Logger.current.error("embedding failed", metadata: ["memory.id": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Keeps the index in step with the files and consolidates daily. On SQLite the memory directory is watched
    /// (inotify): a hand edit is indexed as it is saved (after `settle`, which gathers a burst of edits), and only
    /// the files that changed are read; an idle gateway does not scan. Where the directory cannot be watched, or on
    /// a database other gateways share (their memories arrive through the database, not as files here), the whole
    /// directory is scanned every `interval`.
    public func maintain(every interval: Duration = .seconds(30), settle: Duration = .milliseconds(250)) async {
        var changes = store.dialect == .postgres ? nil : DirectoryChanges(directory.path)
        var lastConsolidation = Date.distantPast
        var everything = true
        while !Task.isCancelled {
            do {
                if everything {
                    _ = try await reindex()
                } else if let watching = changes {
                    let changed = watching.take()
                    if changed.ended {
                        // The folder was removed or moved: watch it again where it is now (made again), else scan
                        // on a timer.
                        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                        changes = DirectoryChanges(directory.path)
                    }
                    let whole = changed.everything || changed.ended
                    _ = whole ? try await reindex() : try await reindex(files: changed.names)
                }
                if Date().timeIntervalSince(lastConsolidation) > 86_400 {
                    _ = try await consolidate()
                    lastConsolidation = Date()
                }
                guard let changes else {
                    try await Task.sleep(for: interval)
                    continue
                }
                let untilConsolidation = 86_400 - Date().timeIntervalSince(lastConsolidation)
                try await changes.bell.wait(atMost: .seconds(max(1, untilConsolidation))) {
                    try await Task.sleep(for: $0)
                }
                try await Task.sleep(for: settle)
                everything = false
            } catch is CancellationError {
                return
            } catch {
                Logger.current.error("memory maintenance failed", metadata: ["error": "\(error)"])
                everything = true
                try? await Task.sleep(for: interval)  // cancelled: the loop condition ends it
            }
        }
    }

    /// Brings these files of the memory directory (names, as inotify gives them) into the index: a new or edited
    /// file is (re)indexed and re-embedded, a removed one's rows go, one that does not parse is reported. Files the
    /// bank wrote itself are unchanged against their row and cost a read each.
    public func reindex(files names: Set<String>, actor: Principal = .system) async throws -> Report {
        var report = Report()
        let names = names.filter { $0.hasSuffix(".md") && !$0.hasPrefix(".") }
        guard !names.isEmpty else { return report }
        let known = try await store.memories.contentHashes()
        for name in names.sorted() {
            try Task.checkCancellation()
            let id = String(name.dropLast(3))
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                guard known[id] != nil else { continue }
                try await unindex(id, event: nil)
                report.removed += 1
                continue
            }
            _ = try await bring(name, known: known, actor: actor, into: &report)
        }
        return report
    }

    /// Removes a memory's row (with `event`, if any) and its entries in the in-memory keyword and vector indexes.
    func unindex(_ id: String, event: EventDraft?) async throws {
        try await store.memories.remove(id, event: event)
        _ = vectors.withLock { $0.remove(id) }
        keywords.withLock { $0.remove(id) }
    }

    /// Brings one file of the memory directory into the index: (re)indexed and queued for embedding if its text
    /// differs from its row's, counted unchanged if not, reported if it does not parse. Returns the memory's id,
    /// or nil for a file that is not a memory.
    func bring(
        _ name: String,
        known: [String: String],
        actor: Principal,
        into report: inout Report
    ) async throws -> String? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
            report.invalid[name] = "not UTF-8 text"
            return nil
        }
        let record: MemoryRecord
        do {
            record = try MemoryRecord(markdown: text)
        } catch {
            report.invalid[name] = "\(error)"
            return nil
        }
        guard name == record.id + ".md" else {
            report.invalid[name] = "the file name must be its id (\(record.id).md)"
            return nil
        }
        if known[record.id] == Event.sha256Hex(text) {
            report.unchanged += 1
        } else {
            try await index(record, event: nil, actor: actor)
            pendingSink.yield(record.id)
            report.indexed += 1
        }
        return record.id
    }

    /// Embeds one memory now (tests and the reindex command call this directly).
    public func embed(_ id: String, with embedder: any Embedder) async throws {
        let record = try await get(id)
        guard let vector = try await embedder.embed([Self.embeddingText(record)]).first else { return }
        try await store.memories.setEmbedding(Self.data(vector), by: embedder.model, for: id)
        try vectors.withLock { try $0.add(vector, for: id) }
        buildVectorGraphIfDue()
    }

    /// Embeds every memory still waiting for a vector; returns how many.
    @discardableResult
    public func embedPending() async throws -> Int {
        guard let embedder else { return 0 }
        let missing = try await store.memories.unembedded(by: embedder.model)
        for id in missing {
            try Task.checkCancellation()
            try await embed(id, with: embedder)
        }
        return missing.count
    }

    static func embeddingText(_ record: MemoryRecord) -> String {
        [record.title, record.body].compactMap { $0 }.joined(separator: ". ")
    }
}
