/// Merges several rankings of the same items (keyword hits, vector hits, …) into one by reciprocal rank fusion.
///
/// Each ranking contributes `weight / (k + rank)` to every id it lists, with ranks starting at 1, so an item
/// near the top of several rankings beats one at the top of a single ranking, and raw scores from different
/// retrievers never need to be compared (Cormack, Clarke and Büttcher, SIGIR 2009).
public enum ReciprocalRankFusion {
    /// The ids of all rankings with their fused scores, best first.
    ///
    /// An id listed twice in one ranking counts only at its better rank. Equal scores keep the order in which the
    /// ids first appear, reading the rankings one after another. `weights`, when given, has one entry per ranking.
    public static func fuse(
        _ rankings: [[String]],
        k: Double = 60,
        weights: [Double]? = nil
    ) -> [(id: String, score: Double)] {
        precondition(weights == nil || weights?.count == rankings.count, "one weight per ranking")
        var scores: [String: (score: Double, firstSeen: Int)] = [:]
        var seen = 0
        for (index, ranking) in rankings.enumerated() {
            let weight = weights?[index] ?? 1
            var counted: Set<String> = []
            for (position, id) in ranking.enumerated() where counted.insert(id).inserted {
                let contribution = weight / (k + Double(position + 1))
                if let entry = scores[id] {
                    scores[id] = (entry.score + contribution, entry.firstSeen)
                } else {
                    scores[id] = (contribution, seen)
                    seen += 1
                }
            }
        }
        return
            scores
            .sorted {
                $0.value.score != $1.value.score
                    ? $0.value.score > $1.value.score : $0.value.firstSeen < $1.value.firstSeen
            }
            .map { (id: $0.key, score: $0.value.score) }
    }
}
