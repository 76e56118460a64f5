public import Foundation

/// Ranking adjustments applied after fusion: important and recently used memories rise.
public enum MemoryScoring {
    /// How much an importance of 1 raises a score (by half); an importance of 0 leaves it alone.
    public static let importanceWeight = 0.5
    /// How much a memory used just now raises a score (by half); the boost halves every half-life.
    public static let recencyWeight = 0.5

    /// The relevance score adjusted for importance and recency:
    /// `score × (1 + 0.5 × importance + 0.5 × 2^(−age / halfLifeDays))`.
    ///
    /// `age` is the days from the later of `lastUsed` and `created` to `now`, never negative. The boost is a
    /// factor between 1 and 2, so it reorders results of similar relevance without lifting an irrelevant
    /// memory over a relevant one. Inputs out of range are clamped (importance to 0...1; a negative, NaN or
    /// infinite score to 0; a NaN age counts as infinitely old), so the result is never NaN.
    public static func boosted(
        score: Double,
        importance: Double,
        lastUsed: Date?,
        created: Date,
        now: Date,
        halfLifeDays: Double = 30
    ) -> Double {
        let relevance = score.isFinite ? max(score, 0) : 0
        let weight = importance.isNaN ? 0 : min(max(importance, 0), 1)
        let touched = max(lastUsed ?? created, created)
        let ageDays = max(now.timeIntervalSince(touched) / 86_400, 0)
        let halfLife = halfLifeDays > 0 ? halfLifeDays : .leastNonzeroMagnitude
        let decay = ageDays.isNaN ? 0 : exp2(-ageDays / halfLife)
        let recency = decay.isNaN ? 0 : decay
        return relevance * (1 + importanceWeight * weight + recencyWeight * recency)
    }
}
