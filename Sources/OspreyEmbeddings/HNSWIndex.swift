import Foundation
import OspreyCore

/// An approximate nearest-neighbour index: a hierarchical navigable small world graph over unit vectors.
///
/// Searches visit a few thousand vectors instead of all of them (Malkov and Yashunin, 2016), trading a little
/// recall for speed once a store outgrows exact search. Levels come from a seeded generator, so the same
/// inserts in the same order build the same graph. Removal only marks a node deleted: it keeps routing searches
/// but never appears in results; ``compacted()`` rebuilds without the deleted nodes.
public struct HNSWIndex: Sendable {
    /// The length every vector must have, such as 384 for all-MiniLM-L6-v2.
    public let dimension: Int
    /// The links each node keeps per layer above the bottom one (the bottom keeps `2 * m`).
    public let m: Int
    /// The candidates considered when linking a new node; more builds a better graph, slower.
    public let efConstruction: Int
    /// The candidates considered per search (at least `k`); more raises recall and cost.
    public var efSearch: Int

    // Internal rather than private so that HNSWIndex+Serialization.swift can read and restore them.
    var generator: SplitMix64
    /// The id of each node, live or deleted.
    var ids: [String] = []
    /// The node of each live id.
    var nodes: [String: Int32] = [:]
    var deleted: [Bool] = []
    var levels: [UInt8] = []
    /// All vectors back to back, normalized, `dimension` floats per node.
    var vectors: [Float] = []
    /// Bottom-layer links: per node a count, then `2 * m` slots.
    var bottomLinks: [Int32] = []
    /// Upper-layer links: per node, for each of its layers above the bottom, a count then `m` slots.
    var upperLinks: [[Int32]] = []
    var entryPoint: Int32 = -1
    var topLevel = -1

    /// The highest layer a node may be placed on, so a level fits in a byte with room to spare.
    static let maximumLevel = 24

    /// Creates an empty index for vectors of `dimension` floats.
    public init(dimension: Int, m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: UInt64 = 42) {
        precondition(dimension > 0 && m >= 2 && efConstruction >= 1, "invalid HNSW parameters")
        self.dimension = dimension
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.generator = SplitMix64(seed: seed)
    }

    /// The number of live (not removed) vectors.
    public var count: Int { nodes.count }

    /// The number of removed vectors the graph still holds for routing; ``compacted()`` drops them.
    public var deletedCount: Int { ids.count - nodes.count }

    /// Whether a live vector is stored under `id`.
    public func contains(_ id: String) -> Bool { nodes[id] != nil }

    /// The normalized vector stored under `id`.
    public func vector(for id: String) -> [Float]? {
        guard let node = nodes[id] else { return nil }
        return Array(vectors[(Int(node) * dimension)..<((Int(node) + 1) * dimension)])
    }

    /// Inserts the vector, scaled to unit length, under `id`; an earlier vector under `id` is removed first.
    public mutating func add(_ vector: [Float], for id: String) throws {
        guard vector.count == dimension else {
            throw VectorIndexError.dimensionMismatch(expected: dimension, actual: vector.count)
        }
        guard let unit = VectorMath.normalized(vector) else { throw VectorIndexError.invalidVector(id: id) }
        remove(id)
        insert(unit, id: id, level: randomLevel())
    }

    /// Marks the vector under `id` deleted; false if there was none.
    @discardableResult
    public mutating func remove(_ id: String) -> Bool {
        guard let node = nodes.removeValue(forKey: id) else { return false }
        deleted[Int(node)] = true
        return true
    }

    /// The `k` live vectors most similar to `query` that pass `filter`, best first (ties by id); approximate.
    ///
    /// Scores are cosine similarities. The search keeps walking through nodes that fail the filter, so a filter
    /// that rejects most ids lowers recall; for very selective filters, search a ``VectorIndex`` of the few ids.
    public func search(
        _ query: [Float],
        k: Int,
        filter: ((String) -> Bool)? = nil
    ) throws -> [(id: String, score: Float)] {
        let unit = try VectorMath.unitQuery(query, dimension: dimension)
        guard k > 0, !nodes.isEmpty else { return [] }
        let found = vectors.withUnsafeBufferPointer { buffer in
            unit.withUnsafeBufferPointer { unit in
                // Both buffers are non-empty: the index holds a live node and dimension > 0.
                let base = buffer.baseAddress!
                let query = unit.baseAddress!
                var entry = entryPoint
                var entryScore = VectorMath.dot(base + Int(entry) * dimension, query, count: dimension)
                for level in stride(from: topLevel, to: 1, by: -1) {
                    (entry, entryScore) = greedyClosest(
                        to: query,
                        from: entry,
                        score: entryScore,
                        level: level,
                        base: base
                    )
                }
                var entries = [ScoreHeap.Element(score: entryScore, node: entry)]
                if topLevel >= 1 {
                    // A beam search on layer 1 hands layer 0 several well-spread starting points instead of one.
                    entries = searchLayer(
                        query,
                        entries: entries,
                        ef: max(efSearch, k),
                        level: 1,
                        base: base,
                        accept: nil
                    )
                }
                let filtered = filter != nil || deletedCount > 0
                return searchLayer(
                    query,
                    entries: entries,
                    ef: max(efSearch, k),
                    level: 0,
                    base: base,
                    accept: filtered ? { node in !deleted[Int(node)] && (filter?(ids[Int(node)]) ?? true) } : nil
                )
            }
        }
        return
            found
            .map { (id: ids[Int($0.node)], score: $0.score) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
            .prefix(k)
            .map { $0 }
    }

    /// A new index holding only the live vectors, inserted again in their original order.
    public func compacted() -> HNSWIndex {
        var index = HNSWIndex(dimension: dimension, m: m, efConstruction: efConstruction, efSearch: efSearch)
        index.generator = generator
        for node in ids.indices where !deleted[node] {
            let unit = Array(vectors[(node * dimension)..<((node + 1) * dimension)])
            index.insert(unit, id: ids[node], level: index.randomLevel())
        }
        return index
    }

    // MARK: - Building the graph

    /// A level drawn from the geometric distribution with ratio 1/m that HNSW prescribes.
    private mutating func randomLevel() -> Int {
        // 53 random bits give a uniform number in (0, 1], so the logarithm is finite.
        let uniform = Double((generator.next() >> 11) + 1) / Double(1 << 53)
        return min(Int(-log(uniform) / log(Double(m))), Self.maximumLevel)
    }

    var bottomStride: Int { 2 * m + 1 }
    var upperStride: Int { m + 1 }

    private mutating func insert(_ unit: [Float], id: String, level: Int) {
        let node = Int32(ids.count)
        ids.append(id)
        nodes[id] = node
        deleted.append(false)
        levels.append(UInt8(level))
        vectors.append(contentsOf: unit)
        bottomLinks.append(contentsOf: repeatElement(0, count: bottomStride))
        upperLinks.append(Array(repeating: 0, count: level * upperStride))
        guard entryPoint >= 0 else {
            entryPoint = node
            topLevel = level
            return
        }
        // Find the neighbours on every layer first (reads only), then link (writes only).
        let chosen: [(level: Int, neighbours: [Int32])] = vectors.withUnsafeBufferPointer { buffer in
            // The buffer holds at least the new node's vector.
            let base = buffer.baseAddress!
            let query = base + Int(node) * dimension
            var entry = entryPoint
            var entryScore = VectorMath.dot(base + Int(entry) * dimension, query, count: dimension)
            for layer in stride(from: topLevel, to: level, by: -1) {
                (entry, entryScore) = greedyClosest(to: query, from: entry, score: entryScore, level: layer, base: base)
            }
            var entries = [ScoreHeap.Element(score: entryScore, node: entry)]
            var chosen: [(level: Int, neighbours: [Int32])] = []
            for layer in stride(from: min(level, topLevel), through: 0, by: -1) {
                let found = searchLayer(
                    query,
                    entries: entries,
                    ef: efConstruction,
                    level: layer,
                    base: base,
                    accept: nil
                )
                chosen.append((layer, diverseNeighbours(of: found, limit: layer == 0 ? 2 * m : m, base: base)))
                entries = found
            }
            return chosen
        }
        for (layer, neighbours) in chosen {
            setLinks(of: node, level: layer, to: neighbours)
            for neighbour in neighbours { link(neighbour, to: node, level: layer) }
        }
        if level > topLevel {
            entryPoint = node
            topLevel = level
        }
    }

    /// Adds a link from `node` to `target`, pruning `node`'s links with the heuristic when they are full.
    private mutating func link(_ node: Int32, to target: Int32, level: Int) {
        var current = links(of: node, level: level)
        let capacity = level == 0 ? 2 * m : m
        if current.count < capacity {
            current.append(target)
            setLinks(of: node, level: level, to: current)
            return
        }
        current.append(target)
        let pruned = vectors.withUnsafeBufferPointer { buffer in
            // The buffer holds every node's vector.
            let base = buffer.baseAddress!
            let origin = base + Int(node) * dimension
            let scored = current.map {
                ScoreHeap.Element(score: VectorMath.dot(base + Int($0) * dimension, origin, count: dimension), node: $0)
            }
            return diverseNeighbours(of: scored, limit: capacity, base: base)
        }
        setLinks(of: node, level: level, to: pruned)
    }

    /// Up to `limit` candidates, best first, skipping any closer to an already chosen one than to the query.
    ///
    /// This is the HNSW paper's neighbour-selection heuristic (algorithm 4 without extending candidates): it keeps
    /// links pointing in different directions, which keeps the graph navigable on clustered data.
    private func diverseNeighbours(
        of candidates: [ScoreHeap.Element],
        limit: Int,
        base: UnsafePointer<Float>
    ) -> [Int32] {
        let sorted = candidates.sorted { $0.score > $1.score }
        var chosen: [Int32] = []
        chosen.reserveCapacity(limit)
        for candidate in sorted {
            if chosen.count >= limit { break }
            let vector = base + Int(candidate.node) * dimension
            let diverse = chosen.allSatisfy {
                VectorMath.dot(base + Int($0) * dimension, vector, count: dimension) <= candidate.score
            }
            if diverse { chosen.append(candidate.node) }
        }
        // Top up with the best pruned candidates (the paper's keepPrunedConnections): on data with high intrinsic
        // dimension the heuristic alone leaves nodes with few links, and recall suffers.
        for candidate in sorted where chosen.count < limit && !chosen.contains(candidate.node) {
            chosen.append(candidate.node)
        }
        return chosen
    }

    func links(of node: Int32, level: Int) -> [Int32] {
        if level == 0 {
            let start = Int(node) * bottomStride
            return Array(bottomLinks[(start + 1)..<(start + 1 + Int(bottomLinks[start]))])
        }
        let row = upperLinks[Int(node)]
        let start = (level - 1) * upperStride
        return Array(row[(start + 1)..<(start + 1 + Int(row[start]))])
    }

    mutating func setLinks(of node: Int32, level: Int, to neighbours: [Int32]) {
        if level == 0 {
            let start = Int(node) * bottomStride
            bottomLinks[start] = Int32(neighbours.count)
            for (offset, neighbour) in neighbours.enumerated() { bottomLinks[start + 1 + offset] = neighbour }
        } else {
            let start = (level - 1) * upperStride
            upperLinks[Int(node)][start] = Int32(neighbours.count)
            for (offset, neighbour) in neighbours.enumerated() { upperLinks[Int(node)][start + 1 + offset] = neighbour }
        }
    }

    // MARK: - Searching the graph

    /// Walks one layer greedily towards the query, returning the closest node found and its score.
    private func greedyClosest(
        to query: UnsafePointer<Float>,
        from entry: Int32,
        score: Float,
        level: Int,
        base: UnsafePointer<Float>
    ) -> (Int32, Float) {
        var best = entry
        var bestScore = score
        var improved = true
        while improved {
            improved = false
            let row = upperLinks[Int(best)]
            let start = (level - 1) * upperStride
            for slot in (start + 1)..<(start + 1 + Int(row[start])) {
                let neighbour = row[slot]
                let similarity = VectorMath.dot(base + Int(neighbour) * dimension, query, count: dimension)
                if similarity > bestScore {
                    best = neighbour
                    bestScore = similarity
                    improved = true
                }
            }
        }
        return (best, bestScore)
    }

    /// The paper's algorithm 2: the `ef` nodes closest to the query reachable from `entries` on one layer.
    ///
    /// With `accept`, rejected nodes still route the search but are kept out of the result, and the search only
    /// stops early once it holds `ef` accepted nodes (as hnswlib does for deleted and filtered nodes).
    private func searchLayer(
        _ query: UnsafePointer<Float>,
        entries: [ScoreHeap.Element],
        ef: Int,
        level: Int,
        base: UnsafePointer<Float>,
        accept: ((Int32) -> Bool)?
    ) -> [ScoreHeap.Element] {
        var visited = [UInt64](repeating: 0, count: (ids.count + 63) / 64)
        var candidates = ScoreHeap(capacity: ef * 2)  // negated scores: the best candidate on top
        var results = ScoreHeap(capacity: ef + 1)  // the worst result on top
        for entry in entries {
            visited[Int(entry.node) >> 6] |= 1 << (UInt64(entry.node) & 63)
            candidates.push(.init(score: -entry.score, node: entry.node))
            if accept?(entry.node) ?? true {
                results.push(entry)
                if results.count > ef { _ = results.popMinimum() }
            }
        }
        var lowerBound = results.minimum?.score ?? -.infinity
        while let candidate = candidates.popMinimum() {
            if -candidate.score < lowerBound && (results.count >= ef || accept == nil) { break }
            let neighbours: ArraySlice<Int32>
            if level == 0 {
                let start = Int(candidate.node) * bottomStride
                neighbours = bottomLinks[(start + 1)..<(start + 1 + Int(bottomLinks[start]))]
            } else {
                let row = upperLinks[Int(candidate.node)]
                let start = (level - 1) * upperStride
                neighbours = row[(start + 1)..<(start + 1 + Int(row[start]))]
            }
            for neighbour in neighbours {
                let word = Int(neighbour) >> 6
                let bit: UInt64 = 1 << (UInt64(neighbour) & 63)
                guard visited[word] & bit == 0 else { continue }
                visited[word] |= bit
                let similarity = VectorMath.dot(base + Int(neighbour) * dimension, query, count: dimension)
                guard results.count < ef || similarity > lowerBound else { continue }
                candidates.push(.init(score: -similarity, node: neighbour))
                if accept?(neighbour) ?? true {
                    results.push(.init(score: similarity, node: neighbour))
                    if results.count > ef { _ = results.popMinimum() }
                }
                lowerBound = results.minimum?.score ?? -.infinity
            }
        }
        return results.elements
    }
}
