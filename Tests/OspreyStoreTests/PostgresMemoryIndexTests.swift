import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

struct PostgresMemoryIndexTests {
    @Test func fullTextStemsRanksAndKeepsVectorsBesideTheRows() async throws {
        try await PostgresClusterTests.withCluster(nodes: 1) { _, nodes in
            let memories = nodes[0].memories
            try await memories.index(id: "m1", title: "Jet engines", text: "Turbofan engines burn kerosene.")
            try await memories.index(id: "m2", text: "An engine of a boat runs on diesel.")
            try await memories.index(id: "m3", text: "Gardening in spring: tulips and roses.")
            #expect(try await memories.setVector(id: "m1", [1, 0, 0]))
            #expect(try await memories.setVector(id: "m3", [0, 1, 0]))
            #expect(try await memories.setVector(id: "nope", [0, 0, 1]) == false)
            // Stems match (engines ~ engine), the title weighs more, a word nobody wrote finds nothing, and a query of
            // stop words or punctuation is no error
            #expect(try await memories.keywordRanking("which engine?", depth: 10) == ["m1", "m2"])
            #expect(try await memories.keywordRanking("quantum", depth: 10).isEmpty)
            #expect(try await memories.keywordRanking("the of ' & | !", depth: 10).isEmpty)
            let vectors = try await memories.vectors()
            #expect(
                Dictionary(uniqueKeysWithValues: vectors.map { ($0.id, $0.vector) }) == [
                    "m1": [1, 0, 0], "m3": [0, 1, 0],
                ]
            )
            // New text drops the stale vector; the same text keeps it
            try await memories.index(id: "m1", title: "Jet engines", text: "Turbofan engines burn kerosene.")
            try await memories.index(id: "m3", text: "Gardening in autumn.")
            #expect(try await memories.vectors().map(\.id) == ["m1"])
            #expect(try await memories.remove(id: "m2"))
            #expect(try await memories.keywordRanking("engine", depth: 10) == ["m1"])
        }
    }
}
