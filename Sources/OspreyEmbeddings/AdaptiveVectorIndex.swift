/// Vectors searched exactly while they are few, and through an HNSW graph once they are many.
///
/// Below `graphThreshold` vectors a search scans them all (``VectorIndex``: exact, a few milliseconds at ten
/// thousand). Past it the owner builds a graph off to the side, since building one takes seconds to minutes:
/// ``beginGraph()`` hands out a copy of the vectors and from then on records every change; the owner builds with
/// ``buildGraph(from:)`` outside any lock while the exact index goes on answering, and ``installGraph(_:)``
/// replays the changes made meanwhile and switches searches to the graph. Nothing is lost and no search waits for
/// the build. The graph keeps its own copy of the vectors, so the exact one is dropped once it is installed.
public struct AdaptiveVectorIndex: Sendable {
    /// Exactly one of the two holds the vectors: the exact index until a graph is installed, then the graph.
    private var exact: VectorIndex?
    private var graph: HNSWIndex?
    /// While a graph is being built from a copy of the vectors: what changed since (a nil vector: removed).
    private var changes: [(id: String, vector: [Float]?)]?
    public let dimension: Int
    /// How many vectors make a graph worth building.
    public let graphThreshold: Int

    public init(dimension: Int, graphThreshold: Int = 10_000) {
        self.dimension = dimension
        self.graphThreshold = graphThreshold
        exact = VectorIndex(dimension: dimension)
    }

    /// The number of stored vectors.
    public var count: Int { graph?.count ?? exact?.count ?? 0 }

    /// How searches are answered now: `exact`, `exact, graph building` or `graph`.
    public var mode: String { graph != nil ? "graph" : changes != nil ? "exact, graph building" : "exact" }

    /// The normalized vector stored under `id`.
    public func vector(for id: String) -> [Float]? { graph?.vector(for: id) ?? exact?.vector(for: id) }

    /// Stores the vector under `id`, replacing any vector already there.
    public mutating func add(_ vector: [Float], for id: String) throws {
        if graph != nil { return try graph!.add(vector, for: id) }
        try exact!.add(vector, for: id)
        changes?.append((id, vector))
    }

    /// Removes the vector under `id`; false if there was none.
    @discardableResult
    public mutating func remove(_ id: String) -> Bool {
        if graph != nil { return graph!.remove(id) }
        changes?.append((id, nil))
        return exact!.remove(id)
    }

    /// The `k` vectors most similar to `query` that pass `filter`, best first: exact below the threshold,
    /// approximate (recall@10 ≥ 0.95 on the package's tests) through the graph.
    public func search(
        _ query: [Float],
        k: Int,
        filter: ((String) -> Bool)? = nil
    ) throws -> [(id: String, score: Float)] {
        if let graph { return try graph.search(query, k: k, filter: filter) }
        return try exact!.search(query, k: k, filter: filter)
    }

    /// If the vectors have reached the threshold and no graph is built or building: a copy of them to build one
    /// from, with every later change recorded until ``installGraph(_:)``. Nil otherwise.
    public mutating func beginGraph() -> VectorIndex? {
        guard graph == nil, changes == nil, let exact, exact.count >= graphThreshold else { return nil }
        changes = []
        return exact
    }

    /// A graph of `vectors`, inserted in their storage order. Slow: run it outside any lock.
    public static func buildGraph(from vectors: VectorIndex) throws -> HNSWIndex {
        var graph = HNSWIndex(dimension: vectors.dimension)
        for id in vectors.ids {
            try Task.checkCancellation()
            if let vector = vectors.vector(for: id) { try graph.add(vector, for: id) }
        }
        return graph
    }

    /// Replays the changes made since ``beginGraph()`` onto `graph` and answers searches from it from now on.
    public mutating func installGraph(_ graph: HNSWIndex) throws {
        guard let changes else { return }
        var graph = graph
        for change in changes {
            if let vector = change.vector { try graph.add(vector, for: change.id) } else { graph.remove(change.id) }
        }
        self.graph = graph
        self.changes = nil
        exact = nil
    }

    /// Gives up a build (it failed or was cancelled): searches stay exact, and a later ``beginGraph()`` may retry.
    public mutating func abandonGraph() { changes = nil }
}
