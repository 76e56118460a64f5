import Foundation
import OspreyMemory
import OspreyTesting
import Testing

struct MemoryScoringTests {
    static let now = date("2026-05-01T00:00:00Z")
    static let day: TimeInterval = 86_400

    func boosted(
        score: Double = 0.03,
        importance: Double = 0.5,
        ageDays: Double = 10,
        lastUsedAgeDays: Double? = nil,
        halfLifeDays: Double = 30
    ) -> Double {
        MemoryScoring.boosted(
            score: score,
            importance: importance,
            lastUsed: lastUsedAgeDays.map { Self.now.addingTimeInterval(-$0 * Self.day) },
            created: Self.now.addingTimeInterval(-ageDays * Self.day),
            now: Self.now,
            halfLifeDays: halfLifeDays
        )
    }

    @Test func theFormulaMatchesItsDocumentation() {
        #expect(abs(boosted(score: 0.1, importance: 1, ageDays: 0) - 0.1 * 2) < 1e-12)
        #expect(abs(boosted(score: 0.1, importance: 0, ageDays: 30) - 0.1 * 1.25) < 1e-12)
        #expect(abs(boosted(score: 0.1, importance: 0.5, ageDays: 60) - 0.1 * (1 + 0.25 + 0.125)) < 1e-12)
    }

    @Test(arguments: [0.0, 0.1, 0.25, 0.5, 0.75, 0.9])
    func moreImportantRanksHigher(importance: Double) {
        #expect(boosted(importance: importance + 0.1) > boosted(importance: importance))
    }

    @Test(arguments: [0.0, 1, 7, 30, 90, 365])
    func moreRecentRanksHigher(ageDays: Double) {
        #expect(boosted(ageDays: ageDays) > boosted(ageDays: ageDays + 1))
        #expect(boosted(ageDays: 400, lastUsedAgeDays: ageDays) > boosted(ageDays: 400, lastUsedAgeDays: ageDays + 1))
    }

    @Test(arguments: [0.01, 0.02, 0.03])
    func moreRelevantRanksHigher(score: Double) {
        #expect(boosted(score: score + 0.001) > boosted(score: score))
    }

    @Test func theBoostNeverMoreThanDoublesAScore() {
        #expect(boosted(score: 1, importance: 1, ageDays: 0) == 2)
        #expect(boosted(score: 1, importance: 0, ageDays: 100_000) >= 1)
    }

    @Test(arguments: [
        (Double.nan, 0.5, 30.0),
        (0.03, .nan, 30),
        (0.03, 0.5, .nan),
        (.infinity, 0.5, 30),
        (-1, 2, 0),
        (0.03, -.infinity, -5),
    ])
    func oddInputsNeverGiveNaN(score: Double, importance: Double, halfLifeDays: Double) {
        let result = boosted(score: score, importance: importance, halfLifeDays: halfLifeDays)
        #expect(result.isFinite && result >= 0)
        let farFuture = MemoryScoring.boosted(
            score: 0.03,
            importance: 0.5,
            lastUsed: .distantFuture,
            created: .distantPast,
            now: Self.now
        )
        #expect(farFuture.isFinite)
    }
}
