/// An exact nearest-neighbour index: cosine similarity of a query against every stored vector.
///
/// Vectors are normalized on the way in and kept back to back in one `[Float]`, so a search is a single pass of
/// SIMD dot products over contiguous memory. Exact search is fast enough for tens of thousands of memories
/// (see the package's benchmark) and is the ground truth that ``HNSWIndex`` is measured against.
public struct VectorIndex: Sendable {
    /// The length every vector must have, such as 384 for all-MiniLM-L6-v2.
    public let dimension: Int
    /// The stored ids, in storage order (which removals change).
    public private(set) var ids: [String] = []
    private var rows: [String: Int] = [:]
    private var storage: [Float] = []

    /// Creates an empty index for vectors of `dimension` floats.
    public init(dimension: Int) {
        precondition(dimension > 0, "a vector index needs a positive dimension")
        self.dimension = dimension
    }

    /// The number of stored vectors.
    public var count: Int { ids.count }

    /// Whether a vector is stored under `id`.
    public func contains(_ id: String) -> Bool { rows[id] != nil }

    /// The normalized vector stored under `id`.
    public func vector(for id: String) -> [Float]? {
        guard let row = rows[id] else { return nil }
        return Array(storage[(row * dimension)..<((row + 1) * dimension)])
    }

    /// Stores the vector, scaled to unit length, under `id`, replacing any vector already there.
    public mutating func add(_ vector: [Float], for id: String) throws {
        guard vector.count == dimension else {
            throw VectorIndexError.dimensionMismatch(expected: dimension, actual: vector.count)
        }
        guard let unit = VectorMath.normalized(vector) else { throw VectorIndexError.invalidVector(id: id) }
        if let row = rows[id] {
            storage.replaceSubrange((row * dimension)..<((row + 1) * dimension), with: unit)
        } else {
            rows[id] = ids.count
            ids.append(id)
            storage.append(contentsOf: unit)
        }
    }

    /// Removes the vector stored under `id` by moving the last vector into its place; false if there was none.
    @discardableResult
    public mutating func remove(_ id: String) -> Bool {
        guard let row = rows.removeValue(forKey: id) else { return false }
        let last = ids.count - 1
        if row != last {
            let moved = ids[last]
            ids[row] = moved
            rows[moved] = row
            storage.withUnsafeMutableBufferPointer { buffer in
                for offset in 0..<dimension {
                    buffer[row * dimension + offset] = buffer[last * dimension + offset]
                }
            }
        }
        ids.removeLast()
        storage.removeLast(dimension)
        return true
    }

    /// The `k` stored vectors most similar to `query` that pass `filter`, best first (ties by id).
    ///
    /// Scores are cosine similarities in -1...1. `filter` is asked only about ids that score well enough to enter
    /// the current top `k`, so an expensive filter costs little.
    public func search(
        _ query: [Float],
        k: Int,
        filter: ((String) -> Bool)? = nil
    ) throws -> [(id: String, score: Float)] {
        let unit = try VectorMath.unitQuery(query, dimension: dimension)
        guard k > 0, !ids.isEmpty else { return [] }
        var best = ScoreHeap(capacity: k)
        let dimension = dimension
        storage.withUnsafeBufferPointer { storage in
            unit.withUnsafeBufferPointer { unit in
                // Both buffers are non-empty here: the index holds a vector and dimension > 0.
                let base = storage.baseAddress!
                let query = unit.baseAddress!
                for row in 0..<(storage.count / dimension) {
                    let score = VectorMath.dot(base + row * dimension, query, count: dimension)
                    if best.count < k {
                        if filter?(ids[row]) ?? true { best.push(.init(score: score, node: Int32(row))) }
                    } else if let worst = best.minimum, score > worst.score, filter?(ids[row]) ?? true {
                        best.replaceMinimum(with: .init(score: score, node: Int32(row)))
                    }
                }
            }
        }
        return best.elements
            .map { (id: ids[Int($0.node)], score: $0.score) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
    }
}
