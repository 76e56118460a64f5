import OspreyEmbeddings
import OspreyMemory
import Testing

struct NearDuplicatesTests {
    @Test func vectorDuplicatesOfABetterRankedKeptResultAreDropped() {
        let ranked: [(id: String, vector: [Float]?)] = [
            ("a", [1, 0, 0]),
            ("a-copy", [0.99, 0.05, 0]),  // cosine 0.9987 to a
            ("b", [0, 1, 0]),
            ("no-vector", nil),
            ("between", [0.8, 0.6, 0]),  // cosine 0.8 to a, 0.6 to b: kept
            ("b-copy", [0, 3, 0.1]),
        ]
        #expect(NearDuplicates.removing(from: ranked) { $0.vector }.map(\.id) == ["a", "b", "no-vector", "between"])
        #expect(
            NearDuplicates.removing(from: ranked, cosineThreshold: 0.7) { $0.vector }.map(\.id) == [
                "a", "b", "no-vector",
            ]
        )
    }

    @Test func idsWithALookupWorkTheSame() throws {
        var index = VectorIndex(dimension: 2)
        try index.add([1, 0], for: "x")
        try index.add([1, 0.01], for: "y")
        try index.add([0, 1], for: "z")
        #expect(NearDuplicates.removing(from: ["y", "x", "z"]) { index.vector(for: $0) } == ["y", "z"])
    }

    @Test func aDuplicateOfADroppedResultIsComparedOnlyWithKeptOnes() {
        // b is dropped as a copy of a; c is close to b but not to a, so c stays.
        let ranked: [(String, [Float])] = [("a", [1, 0]), ("b", [0.95, 0.312]), ("c", [0.81, 0.586])]
        #expect(NearDuplicates.removing(from: ranked, cosineThreshold: 0.95) { $0.1 }.map(\.0) == ["a", "c"])
    }

    @Test(arguments: [
        ("The user prefers tabs over spaces in Swift code.", "the user prefers tabs over spaces in swift code", 1.0),
        ("a b c d", "a b c e", 1.0 / 3),
        ("one two", "one two", 1.0),
        ("one two", "two one", 0.0),
        ("", "  ...  ", 1.0),
        ("alpha beta gamma", "", 0.0),
    ])
    func textSimilarityIsTheJaccardOfThreeWordShingles(a: String, b: String, expected: Double) {
        #expect(abs(NearDuplicates.textSimilarity(a, b) - expected) < 1e-12)
    }

    @Test(arguments: [
        ["Wing", "wing", "flow", "Mach", "über", "naïve", "3", "42", "flow,", "(wing)", "Ωmega", "—"],
        // ASCII only: the byte-wise path.
        ["Wing", "wing", "flow", "Mach", "MACH", "a-b", "3", "42", "flow,", "(wing)", "x_y", "--"],
    ])
    func theHashedShinglesGiveTheSameSimilarityAsTheWordShingles(vocabulary: [String]) {
        // Texts from a small vocabulary with repeats, punctuation, case and (in the first) non-ASCII letters, so
        // pairs share some shingles, all or none.
        var state: UInt64 = 7
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        let texts = (0..<60).map { _ in (0..<(next() % 14)).map { _ in vocabulary[next() % 12] }.joined(separator: " ")
        }
        for (a, b) in Array(zip(texts, texts.reversed())) + Array(zip(texts, texts.dropFirst())) {
            let (x, y) = (NearDuplicates.shingles(of: a), NearDuplicates.shingles(of: b))
            let expected = x.isEmpty && y.isEmpty ? 1 : Double(x.intersection(y).count) / Double(x.union(y).count)
            #expect(abs(NearDuplicates.textSimilarity(a, b) - expected) < 1e-12, "\(a) | \(b)")
        }
    }

    @Test func textDuplicatesAreDroppedAtTheThreshold() {
        let texts = [
            "Deploys go out on Tuesdays after the standup meeting ends",
            "deploys go out on tuesdays after the standup meeting ends!",
            "Deploys go out on Thursdays after lunch",
            "Deploys go out on Tuesdays after the standup meeting ends, usually",
        ]
        // The fourth shares 8 of 9 shingles with the first (0.89 ≥ 0.8).
        #expect(NearDuplicates.removing(from: texts) { $0 } == [texts[0], texts[2]])
        #expect(NearDuplicates.removing(from: texts, jaccardThreshold: 0.95) { $0 } == [texts[0], texts[2], texts[3]])
        #expect(NearDuplicates.removing(from: texts, jaccardThreshold: 0.95, limit: 2) { $0 } == [texts[0], texts[2]])
    }

    @Test func cosineHandlesZeroAndMismatchedVectors() {
        #expect(NearDuplicates.cosine([1, 0], [0, 0]) == 0)
        #expect(NearDuplicates.cosine([1, 0], [1, 0, 0]) == 0)
        #expect(abs(NearDuplicates.cosine([3, 4], [4, 3]) - 0.96) < 1e-6)
    }
}
