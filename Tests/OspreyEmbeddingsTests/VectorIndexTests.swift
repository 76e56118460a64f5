import OspreyEmbeddings
import OspreyTesting
import Testing

struct VectorIndexTests {
    @Test func searchRanksByCosineSimilarity() throws {
        var index = VectorIndex(dimension: 3)
        try index.add([1, 0, 0], for: "x")
        try index.add([0, 2, 0], for: "y")  // normalized on the way in
        try index.add([1, 1, 0], for: "xy")
        let results = try index.search([1, 0.1, 0], k: 2)
        #expect(results.map(\.id) == ["x", "xy"])
        #expect(abs(results[1].score - (1.1 / (2.0 as Float).squareRoot() / (1.01 as Float).squareRoot())) < 1e-6)
        #expect(index.vector(for: "y") == [0, 1, 0])
    }

    @Test func addingAnExistingIDReplacesItsVector() throws {
        var index = VectorIndex(dimension: 2)
        try index.add([1, 0], for: "a")
        try index.add([0, 1], for: "a")
        #expect(index.count == 1)
        #expect(try index.search([0, 1], k: 5).map(\.id) == ["a"])
        #expect(try index.search([0, 1], k: 5).first?.score == 1)
    }

    @Test func removalMovesTheLastVectorIntoTheGap() throws {
        var index = VectorIndex(dimension: 2)
        for (offset, id) in ["a", "b", "c"].enumerated() { try index.add([1, Float(offset)], for: id) }
        let removed = index.remove("a")
        let removedAgain = index.remove("a")
        #expect(removed && !removedAgain)
        #expect(index.ids == ["c", "b"])
        #expect(index.vector(for: "c") == (try VectorIndex.unit([1, 2])))
        #expect(try index.search([1, 2], k: 1).map(\.id) == ["c"])
        index.remove("b")
        index.remove("c")
        #expect(index.count == 0)
        #expect(try index.search([1, 0], k: 3).isEmpty)
    }

    @Test func filterExcludesIDsAndIsAskedOnlyAboutContenders() throws {
        var index = VectorIndex(dimension: 2)
        for step in 0..<100 { try index.add([1, Float(step) / 10], for: "v\(step)") }
        var asked = 0
        let results = try index.search([1, 0], k: 3) { id in
            asked += 1
            return id != "v0"
        }
        #expect(results.map(\.id) == ["v1", "v2", "v3"])
        #expect(asked < 10)
    }

    @Test func resultsMatchBruteForceOnRandomVectors() throws {
        let vectors = randomUnitVectors(count: 500, dimension: 37, seed: 1)
        var index = VectorIndex(dimension: 37)
        for (offset, vector) in vectors.enumerated() { try index.add(vector, for: "v\(offset)") }
        for query in randomUnitVectors(count: 10, dimension: 37, seed: 2) {
            let expected = vectors.indices
                .map { offset in (id: "v\(offset)", score: zip(vectors[offset], query).reduce(0) { $0 + $1.0 * $1.1 }) }
                .sorted { $0.score > $1.score }
                .prefix(10)
            let found = try index.search(query, k: 10)
            #expect(found.map(\.id) == expected.map(\.id))
            for (got, want) in zip(found, expected) { #expect(abs(got.score - want.score) < 1e-5) }
        }
    }

    @Test func wrongDimensionsAndZeroVectorsAreErrors() throws {
        var index = VectorIndex(dimension: 4)
        #expect(throws: VectorIndexError.dimensionMismatch(expected: 4, actual: 3)) {
            try index.add([1, 2, 3], for: "a")
        }
        #expect(throws: VectorIndexError.invalidVector(id: "a")) { try index.add([0, 0, 0, 0], for: "a") }
        #expect(throws: VectorIndexError.invalidVector(id: "a")) { try index.add([.nan, 0, 0, 1], for: "a") }
        #expect(throws: VectorIndexError.dimensionMismatch(expected: 4, actual: 5)) {
            try index.search([1, 0, 0, 0, 0], k: 1)
        }
        #expect(try index.search([1, 0, 0, 0], k: 0).isEmpty)
    }
}

extension VectorIndex {
    /// The vector as the index would store it.
    static func unit(_ vector: [Float]) throws -> [Float]? {
        var index = VectorIndex(dimension: vector.count)
        try index.add(vector, for: "")
        return index.vector(for: "")
    }
}
