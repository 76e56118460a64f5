import Foundation
import OspreyEmbeddings
import OspreyTesting
import Testing

struct HNSWIndexTests {
    /// 5,000 seeded random unit vectors of dimension 64 in both indexes, and 300 queries.
    struct Fixture {
        var approximate = HNSWIndex(dimension: 64, efSearch: 64, seed: 7)
        var exact = VectorIndex(dimension: 64)
        let queries = randomUnitVectors(count: 300, dimension: 64, seed: 99)

        init(count: Int = 5000) throws {
            for (offset, vector) in randomUnitVectors(count: count, dimension: 64, seed: 11).enumerated() {
                try approximate.add(vector, for: "v\(offset)")
                try exact.add(vector, for: "v\(offset)")
            }
        }

        func recall(filter: ((String) -> Bool)? = nil) throws -> Double {
            var hits = 0
            var total = 0
            for query in queries {
                let truth = Set(try exact.search(query, k: 10, filter: filter).map(\.id))
                hits += try approximate.search(query, k: 10, filter: filter).filter { truth.contains($0.id) }.count
                total += truth.count
            }
            return Double(hits) / Double(total)
        }
    }

    @Test func recallAtTenIsAtLeastNinetyFivePercent() throws {
        let fixture = try Fixture()
        let recall = try fixture.recall()
        #expect(recall >= 0.95, "recall@10 \(recall)")
    }

    @Test func filteredAndRemovedIDsNeverAppear() throws {
        var fixture = try Fixture(count: 2000)
        for offset in stride(from: 0, to: 2000, by: 3) {
            fixture.approximate.remove("v\(offset)")
            fixture.exact.remove("v\(offset)")
        }
        let even: (String) -> Bool = { (Int($0.dropFirst()) ?? 1) % 2 == 0 }
        for query in fixture.queries.prefix(20) {
            let found = try fixture.approximate.search(query, k: 10, filter: even)
            #expect(found.count == 10)
            #expect(found.allSatisfy { even($0.id) && fixture.approximate.contains($0.id) })
        }
        #expect(try fixture.recall(filter: even) >= 0.9)
        #expect(fixture.approximate.count == fixture.exact.count)
        #expect(fixture.approximate.deletedCount == 667)
    }

    @Test func compactionDropsDeletedNodesAndKeepsResults() throws {
        var fixture = try Fixture(count: 1000)
        for offset in 0..<500 { fixture.approximate.remove("v\(offset)") }
        let compacted = fixture.approximate.compacted()
        #expect(compacted.count == 500 && compacted.deletedCount == 0)
        for query in fixture.queries.prefix(10) {
            #expect(try compacted.search(query, k: 5).allSatisfy { (Int($0.id.dropFirst()) ?? -1) >= 500 })
        }
    }

    @Test func serializationRoundTripsAndInsertsContinueIdentically() throws {
        // Given an index with a removed and a replaced vector
        var original = HNSWIndex(dimension: 64, seed: 3)
        let vectors = randomUnitVectors(count: 1200, dimension: 64, seed: 5)
        for offset in 0..<1000 { try original.add(vectors[offset], for: "v\(offset)") }
        original.remove("v17")
        try original.add(vectors[1199], for: "v18")
        // When it is serialized and restored
        var restored = try HNSWIndex(serialized: original.serialized())
        #expect(restored.serialized() == original.serialized())
        // Then searches agree, before and after more inserts into both
        let queries = randomUnitVectors(count: 20, dimension: 64, seed: 6)
        for query in queries { #expect(try restored.search(query, k: 10) == original.search(query, k: 10)) }
        for offset in 1000..<1199 {
            try original.add(vectors[offset], for: "v\(offset)")
            try restored.add(vectors[offset], for: "v\(offset)")
        }
        for query in queries { #expect(try restored.search(query, k: 10) == original.search(query, k: 10)) }
        #expect(restored.serialized() == original.serialized())
        #expect(try restored.search(vectors[1100], k: 1).first?.id == "v1100")
    }

    @Test func anEmptyIndexRoundTrips() throws {
        let empty = HNSWIndex(dimension: 8)
        let restored = try HNSWIndex(serialized: empty.serialized())
        #expect(restored.count == 0)
        #expect(try restored.search([1, 0, 0, 0, 0, 0, 0, 0], k: 3).isEmpty)
    }

    @Test func truncatedOrFlippedDataIsAnErrorNotACrash() throws {
        var index = HNSWIndex(dimension: 4, seed: 1)
        for (offset, vector) in randomUnitVectors(count: 40, dimension: 4, seed: 2).enumerated() {
            try index.add(vector, for: "v\(offset)")
        }
        let data = index.serialized()
        for length in 0..<data.count {
            #expect(throws: VectorIndexError.self) { try HNSWIndex(serialized: data.prefix(length)) }
        }
        for position in data.indices {
            var flipped = data
            flipped[position] ^= 0x41
            #expect(throws: VectorIndexError.self) { try HNSWIndex(serialized: flipped) }
        }
    }

    @Test func structurallyInvalidDataWithAValidChecksumIsAnError() throws {
        var index = HNSWIndex(dimension: 2, seed: 1)
        try index.add([1, 0], for: "a")
        try index.add([0, 1], for: "b")
        var bytes = [UInt8](index.serialized().dropLast(8))
        // Node "b" is last: its bottom-layer link to node 0 occupies the final four bytes; point it at node 9.
        bytes[bytes.count - 4] = 9
        #expect(throws: VectorIndexError.corruptIndex(reason: "node 1 links to a missing node on layer 0")) {
            try HNSWIndex(serialized: Data(bytes + fnv1a(bytes)))
        }
    }

    @Test func wrongDimensionsAreErrors() throws {
        var index = HNSWIndex(dimension: 4)
        #expect(throws: VectorIndexError.dimensionMismatch(expected: 4, actual: 2)) {
            try index.add([1, 0], for: "a")
        }
        #expect(throws: VectorIndexError.dimensionMismatch(expected: 4, actual: 2)) { try index.search([1, 0], k: 1) }
    }

    private func fnv1a(_ bytes: [UInt8]) -> [UInt8] {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return (0..<8).map { UInt8(truncatingIfNeeded: hash >> ($0 * 8)) }
    }
}

extension [(id: String, score: Float)] {
    fileprivate static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.map(\.id) == rhs.map(\.id) && lhs.map(\.score) == rhs.map(\.score)
    }
}
