import OspreyEmbeddings
import OspreyTesting
import Testing

struct AdaptiveVectorIndexTests {
    @Test func searchesStayExactBelowTheThresholdAndNoGraphIsOffered() throws {
        var index = AdaptiveVectorIndex(dimension: 16, graphThreshold: 100)
        for (offset, vector) in randomUnitVectors(count: 99, dimension: 16, seed: 3).enumerated() {
            try index.add(vector, for: "v\(offset)")
        }
        let offered = index.beginGraph()
        #expect(offered == nil)
        #expect(index.mode == "exact")
        #expect(index.count == 99)
    }

    @Test func changesDuringTheBuildAreReplayedOntoTheGraph() throws {
        let vectors = randomUnitVectors(count: 2_100, dimension: 32, seed: 5)
        var index = AdaptiveVectorIndex(dimension: 32, graphThreshold: 2_000)
        var exact = VectorIndex(dimension: 32)
        for (offset, vector) in vectors.prefix(2_000).enumerated() {
            try index.add(vector, for: "v\(offset)")
            try exact.add(vector, for: "v\(offset)")
        }
        let began = index.beginGraph()
        let snapshot = try #require(began)
        let second = index.beginGraph()
        #expect(second == nil, "one build at a time")
        #expect(index.mode == "exact, graph building")
        // While the graph builds: new vectors, a replaced one and removed ones, all seen by exact searches.
        for (offset, vector) in vectors.suffix(100).enumerated() {
            try index.add(vector, for: "n\(offset)")
            try exact.add(vector, for: "n\(offset)")
        }
        try index.add(vectors[2_050], for: "v1")
        try exact.add(vectors[2_050], for: "v1")
        for offset in stride(from: 0, to: 2_000, by: 7) where offset != 1 {
            let removed = index.remove("v\(offset)")
            #expect(removed)
            exact.remove("v\(offset)")
        }
        #expect(try index.search(vectors[2_010], k: 1).first?.id == "n10")
        let graph = try AdaptiveVectorIndex.buildGraph(from: snapshot)
        try index.installGraph(graph)
        #expect(index.mode == "graph")
        #expect(index.count == exact.count)
        #expect(index.vector(for: "v1") == exact.vector(for: "v1"))
        #expect(index.vector(for: "v7") == nil)
        var found = 0
        for query in randomUnitVectors(count: 100, dimension: 32, seed: 8) {
            let truth = Set(try exact.search(query, k: 10).map(\.id))
            let answer = try index.search(query, k: 10)
            #expect(!answer.contains { $0.id.hasPrefix("v") && Int($0.id.dropFirst())! % 7 == 0 && $0.id != "v1" })
            found += answer.filter { truth.contains($0.id) }.count
        }
        #expect(Double(found) / 1_000 >= 0.9, "recall@10 \(Double(found) / 1_000)")
        // Changes after the switch go to the graph.
        try index.add(vectors[2_099], for: "late")
        #expect(try index.search(vectors[2_099], k: 1).first?.id != nil)
        let removedLate = index.remove("late")
        #expect(removedLate)
        #expect(index.vector(for: "late") == nil)
    }

    @Test func anAbandonedBuildLeavesSearchesExactAndMayBeRetried() throws {
        var index = AdaptiveVectorIndex(dimension: 8, graphThreshold: 10)
        for (offset, vector) in randomUnitVectors(count: 10, dimension: 8, seed: 1).enumerated() {
            try index.add(vector, for: "v\(offset)")
        }
        let began = index.beginGraph()
        #expect(began != nil)
        index.remove("v0")
        index.abandonGraph()
        #expect(index.mode == "exact")
        #expect(index.count == 9)
        let again = index.beginGraph()
        #expect(again == nil, "below the threshold again")
        try index.add(randomUnitVectors(count: 1, dimension: 8, seed: 2)[0], for: "w")
        let retry = index.beginGraph()
        #expect(retry?.count == 10)
    }
}
