import OspreyMemory
import Testing

struct ReciprocalRankFusionTests {
    @Test func scoresSumReciprocalRanksAcrossRankings() {
        let fused = ReciprocalRankFusion.fuse([["a", "b", "c"], ["b", "c", "d"]])
        #expect(fused.map(\.id) == ["b", "c", "a", "d"])
        #expect(fused.map(\.score) == [1.0 / 61 + 1.0 / 62, 1.0 / 62 + 1.0 / 63, 1.0 / 61, 1.0 / 63])
    }

    @Test func weightsScaleEachRankingsContribution() {
        let fused = ReciprocalRankFusion.fuse([["a", "b"], ["b", "a"]], k: 1, weights: [2, 1])
        #expect(fused.map(\.id) == ["a", "b"])
        #expect(fused.map(\.score) == [2.0 / 2 + 1.0 / 3, 2.0 / 3 + 1.0 / 2])
    }

    @Test(arguments: [
        ([["a"], ["b"]], ["a", "b"]),
        ([["b"], ["a"]], ["b", "a"]),
        ([["x", "a"], ["y", "b"], ["b", "a"]], ["b", "a", "x", "y"]),
        ([["c", "d"], ["d", "c"]], ["c", "d"]),
    ])
    func equalScoresKeepTheOrderOfFirstAppearance(rankings: [[String]], expected: [String]) {
        #expect(ReciprocalRankFusion.fuse(rankings).map(\.id) == expected)
    }

    @Test func anIDRepeatedInOneRankingCountsOnceAtItsBestRank() {
        let fused = ReciprocalRankFusion.fuse([["a", "a", "b"]])
        #expect(fused.map(\.id) == ["a", "b"])
        #expect(fused.map(\.score) == [1.0 / 61, 1.0 / 63])
    }

    @Test func noRankingsFuseToNothing() {
        #expect(ReciprocalRankFusion.fuse([]).isEmpty)
        #expect(ReciprocalRankFusion.fuse([[], []]).isEmpty)
    }
}
