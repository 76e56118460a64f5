import Foundation
import OspreyMemory
import OspreyTesting
import Testing

@testable import OspreyEmbeddings

struct MiniLMEmbedderTests {
    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
    }

    @Test(
        .enabled(if: TestResources.modelDirectory != nil, TestResources.modelAbsent),
        .enabled(
            if: TestResources.cranfieldPresent,
            "the Cranfield reference data (../shared/data/cranfield) is absent"
        ),
        arguments: DenseLayer.Kernel.available
    )
    func embeddingsMatchTheSentenceTransformersReference(kernel: DenseLayer.Kernel) throws {
        // Given the model (run by each kernel this CPU has), the Cranfield texts and the reference vectors
        let embedder = try MiniLMEmbedder(directory: #require(TestResources.modelDirectory), kernel: kernel)
        let collection = try CranfieldCollection(directory: TestResources.cranfieldDirectory)
        let reference = try NumPyArchive(
            contentsOf: TestResources.cranfieldDirectory.appendingPathComponent("minilm.npz")
        )
        let ids = try #require(reference.arrays["ids"]).strings()
        let documentVectors = try #require(reference.arrays["docs"]).floatRows()
        let queryVectors = try #require(reference.arrays["queries"]).floatRows()
        // Short, long (cut at 256 tokens) and empty (number 471) documents, and a spread of queries.
        let documentIndices = [0, 1, 5, 99, 100, 470, 700, 999, 1200, 1399]
        let queryIndices = [0, 1, 50, 100, 224]

        // When they are embedded as a batch, and the first three (short, long, empty) also one at a time
        let documentTexts = documentIndices.map { collection.documents[$0].text }
        let batch = embedder.embed(batch: documentTexts)
        let singles = [0, 1, 5].map { embedder.embed(documentTexts[$0]) }
        let queries = embedder.embed(batch: queryIndices.map { collection.queries[$0] })

        // Then every vector has 384 unit-length dimensions and a cosine of at least 0.999 with its reference
        #expect(embedder.dimensions == 384)
        for (position, index) in documentIndices.enumerated() {
            let row = try #require(ids.firstIndex(of: collection.documents[index].number))
            #expect(batch[position].count == 384)
            #expect(abs(Self.cosine(batch[position], batch[position]) - 1) < 1e-5)
            #expect(Self.cosine(batch[position], documentVectors[row]) >= 0.999, "document \(index + 1)")
        }
        for (single, position) in zip(singles, [0, 1, 5]) {
            #expect(Self.cosine(single, batch[position]) >= 0.999_999, "document \(documentIndices[position] + 1)")
        }
        for (position, index) in queryIndices.enumerated() {
            #expect(Self.cosine(queries[position], queryVectors[index]) >= 0.999, "query \(index + 1)")
        }
    }

    @Test(.enabled(if: TestResources.modelDirectory != nil, TestResources.modelAbsent))
    func anEmptyBatchGivesNoEmbeddings() throws {
        let embedder = try MiniLMEmbedder(directory: #require(TestResources.modelDirectory))
        #expect(embedder.embed(batch: []).isEmpty)
    }

    @Test func aMissingDirectoryThrowsAModelFileError() {
        #expect {
            try MiniLMEmbedder(directory: URL(fileURLWithPath: "/nonexistent/minilm"))
        } throws: { error in
            guard case .modelFile(let path, _) = error as? EmbeddingError else { return false }
            return path.hasPrefix("/nonexistent/minilm")
        }
    }
}
