import Foundation
import Testing

@testable import OspreyMemory

struct KeywordIndexTests {
    static func body(_ text: String) -> [KeywordIndex.Field] { [.init(text: text, weight: 1)] }

    @Test func rankingFollowsBM25() {
        var index = KeywordIndex()
        index.add("short", fields: Self.body("supersonic flow"))
        index.add("long", fields: Self.body("supersonic flow over a wing at a high angle of attack in a wind tunnel"))
        index.add("twice", fields: Self.body("supersonic supersonic flow"))
        index.add("other", fields: Self.body("heat transfer in a boundary layer"))
        // "supersonic" is in three of four documents, so its IDF is FTS5's floor; "flows" stems to "flow" the same.
        #expect(index.search(["supersonic", "flows"], limit: 10) == ["twice", "short", "long"])
        #expect(index.search(["boundary"], limit: 10) == ["other"])
        #expect(index.search(["nothing"], limit: 10) == [])
        #expect(index.search(["supersonic"], limit: 1) == ["twice"])
        #expect(index.search([], limit: 10) == [])
        #expect(index.search(["flow"], limit: 0) == [])
    }

    @Test func theScoreIsFTS5sBM25() {
        var index = KeywordIndex()
        index.add("a", fields: Self.body("wing tip"))
        index.add("b", fields: Self.body("tip vortex tip drag"))
        index.add("c", fields: Self.body("drag"))
        // "tip" is in 2 of 3 documents: IDF ln(1.5 / 2.5) < 0, floored to 1e-6 as FTS5 does; "wing" (in 1) decides.
        #expect(index.search(["tip", "wing"], limit: 3) == ["a", "b"])
        // Without a deciding word, b's two "tip"s outweigh a's one despite its length, as the formula says:
        // a: f 1, |D| 2, avgdl 7/3; b: f 2, |D| 4.
        let k1 = 1.2
        let b = 0.75
        let average = 7.0 / 3
        let scoreA = 1 * (k1 + 1) / (1 + k1 * (1 - b + b * 2 / average))
        let scoreB = 2 * (k1 + 1) / (2 + k1 * (1 - b + b * 4 / average))
        #expect(scoreB > scoreA)
        #expect(index.search(["tip"], limit: 3) == ["b", "a"])
    }

    @Test func titleWeightCountsAsRepeatedOccurrences() {
        var index = KeywordIndex()
        index.add("in-body", fields: [.init(text: "", weight: 2), .init(text: "nozzle design", weight: 1)])
        index.add("in-title", fields: [.init(text: "nozzle", weight: 2), .init(text: "design", weight: 1)])
        index.add("neither", fields: [.init(text: "wing", weight: 2), .init(text: "tip", weight: 1)])
        #expect(index.search(["nozzle"], limit: 5) == ["in-title", "in-body"])
    }

    @Test func aRepeatedQueryWordCountsTwice() {
        var index = KeywordIndex()
        index.add("heat", fields: Self.body("heat heat heat transfer"))
        index.add("mach", fields: Self.body("mach number mach"))
        index.add("x", fields: Self.body("unrelated words here"))
        index.add("y", fields: Self.body("more unrelated words"))
        // Alone each query word ranks its own document; asked twice, "mach" outweighs "heat".
        #expect(index.search(["heat", "mach"], limit: 2) == ["heat", "mach"])
        #expect(index.search(["heat", "mach", "mach"], limit: 2) == ["mach", "heat"])
    }

    @Test func replacingAndRemovingDocumentsChangesWhatIsFound() {
        var index = KeywordIndex()
        index.add("a", fields: Self.body("shock wave"))
        index.add("b", fields: Self.body("expansion fan"))
        #expect(index.search(["shock"], limit: 5) == ["a"])
        index.add("a", fields: Self.body("laminar flow"))
        #expect(index.count == 2)
        #expect(index.search(["shock"], limit: 5) == [])
        #expect(index.search(["laminar"], limit: 5) == ["a"])
        index.remove("a")
        index.remove("unknown")
        #expect(index.count == 1)
        #expect(index.search(["laminar"], limit: 5) == [])
        #expect(index.search(["expansion"], limit: 5) == ["b"])
    }

    @Test func compactionKeepsRankingsAndOrder() {
        // Given many removals (enough to compact) among documents that tie on score
        var index = KeywordIndex()
        var reference = KeywordIndex()
        for number in 0..<3000 {
            index.add("doc\(number)", fields: Self.body("common word\(number % 7)"))
        }
        for number in 0..<3000 where number % 3 != 0 { index.remove("doc\(number)") }
        for number in 0..<3000 where number % 3 == 0 {
            reference.add("doc\(number)", fields: Self.body("common word\(number % 7)"))
        }
        // Then the index ranks as one built from the survivors alone, ties in indexing order
        #expect(index.count == 1000)
        for words in [["common"], ["word3"], ["word3", "word5"], ["common", "word0"]] {
            #expect(index.search(words, limit: 50) == reference.search(words, limit: 50))
        }
        #expect(index.search(["common"], limit: 3) == ["doc0", "doc3", "doc6"])
    }

    @Test func writesDuringTheBuildAreReplayedOntoTheBuiltIndex() {
        // Given writes made while the index builds (a new memory, and the removal of one the build will read)
        var slot = KeywordIndexSlot()
        #expect(slot.index == nil)
        slot.add("new", document: KeywordIndex.document(Self.body("shock tube")))
        slot.remove("old")
        // When the built index, made from the rows as they were, is installed
        var built = KeywordIndex()
        built.add("old", fields: Self.body("shock layer"))
        built.add("kept", fields: Self.body("wing"))
        slot.install(built)
        // Then it holds both writes, and later writes go straight to it
        #expect(slot.index?.search(["shock"], limit: 5) == ["new"])
        #expect(slot.index?.count == 2)
        slot.add("later", document: KeywordIndex.document(Self.body("shock")))
        #expect(slot.index?.count == 3)
    }

    @Test func anAbandonedBuildRecordsNothingAndInstallsNothing() {
        var slot = KeywordIndexSlot()
        slot.abandon()
        slot.add("x", document: KeywordIndex.document(Self.body("y")))
        slot.install(KeywordIndex())
        #expect(slot.index == nil)
    }

    @Test func feedbackAddsTheTermsTypicalOfTheBestHitsWithTheirShareOfTheWeight() throws {
        // Given "osprey" in two documents that also share "hawk" and "nest", and documents without it
        var index = KeywordIndex()
        index.add("a", fields: Self.body("osprey hawk nest"))
        index.add("b", fields: Self.body("osprey hawk nest nest"))
        index.add("c", fields: Self.body("hawk nest on a pole"))
        index.add("d", fields: Self.body("heat transfer in a boundary layer"))

        // When the query "osprey" is expanded from its best two hits by two terms, the words keeping 0.6
        let query = try #require(
            index.feedbackQuery(["osprey"], documents: 2, expansion: 2, originalWeight: 0.6, excluded: ["on"])
        )

        // Then the two terms most typical of the hits are "nest" and "hawk" (tied with "osprey", and first by
        // text); "osprey" keeps its 0.6 and the weights sum to 1; the third document, which lacks "osprey" but has
        // both, now ranks, after both that have it
        let weights = Dictionary(uniqueKeysWithValues: query.map { (index.termName($0.termID), $0.weight) })
        #expect(Set(weights.keys) == ["osprei", "nest", "hawk"])  // "osprei": Porter's stem of "osprey"
        #expect(abs(query.reduce(0) { $0 + $1.weight } - 1) < 1e-12)
        // Both hits score alike on "osprey" (in half the documents, its IDF is FTS5's floor), so by share of length:
        // nest 1/3 + 2/4, hawk 1/3 + 1/4.
        let nest = 1.0 / 3 + 2.0 / 4
        let hawk = 1.0 / 3 + 1.0 / 4
        #expect(abs(weights["osprei"]! - 0.6) < 1e-12)
        #expect(abs(weights["nest"]! - 0.4 * nest / (hawk + nest)) < 1e-6)
        #expect(abs(weights["hawk"]! - 0.4 * hawk / (hawk + nest)) < 1e-6)
        #expect(index.search(["osprey"], limit: 10) == ["a", "b"])
        #expect(index.search(weighted: query, limit: 10).prefix(3).sorted() == ["a", "b", "c"])
        #expect(index.search(weighted: query, limit: 10).last == "c")

        // And short or excluded terms are never added, and a query that matches nothing has no feedback
        let excluded = try #require(
            index.feedbackQuery(["pole"], documents: 1, expansion: 10, originalWeight: 0.5, excluded: ["hawk"])
        )
        #expect(Set(excluded.map { index.termName($0.termID) }) == ["pole", "nest"])
        #expect(index.feedbackQuery(["glider"], documents: 2, expansion: 2, originalWeight: 0.5, excluded: []) == nil)
    }
}
