import OspreyEmbeddings

/// Drops recall results that repeat a better-ranked result, by embedding similarity or, without vectors, by
/// overlapping word sequences.
public enum NearDuplicates {
    /// The results in order, without any whose cosine similarity to a better-ranked kept result is at least
    /// `threshold`; results without a vector (`vector` returns nil) are always kept.
    ///
    /// Works on results that carry vectors (`{ $0.vector }`) or on ids with a lookup (`{ index.vector(for: $0) }`).
    public static func removing<Result>(
        from ranked: [Result],
        cosineThreshold threshold: Float = 0.95,
        vector: (Result) -> [Float]?
    ) -> [Result] {
        var kept: [Result] = []
        var keptVectors: [[Float]] = []
        for result in ranked {
            guard let raw = vector(result), let unit = VectorMath.normalized(raw) else {
                kept.append(result)
                continue
            }
            let duplicate = keptVectors.contains { $0.count == unit.count && VectorMath.dot($0, unit) >= threshold }
            if !duplicate {
                kept.append(result)
                keptVectors.append(unit)
            }
        }
        return kept
    }

    /// The results in order, without any whose text shares at least `threshold` of its word shingles (Jaccard
    /// similarity) with a better-ranked kept result.
    public static func removing<Result>(
        from ranked: [Result],
        jaccardThreshold threshold: Double = 0.8,
        text: (Result) -> String
    ) -> [Result] {
        var kept: [Result] = []
        var keptShingles: [Set<String>] = []
        for result in ranked {
            let shingles = shingles(of: text(result))
            if !keptShingles.contains(where: { jaccard($0, shingles) >= threshold }) {
                kept.append(result)
                keptShingles.append(shingles)
            }
        }
        return kept
    }

    /// The cosine similarity of two vectors of equal length, or 0 when either has no direction.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count, let a = VectorMath.normalized(a), let b = VectorMath.normalized(b) else { return 0 }
        return VectorMath.dot(a, b)
    }

    /// The Jaccard similarity of the two texts' 3-word shingles, in 0...1 (1 for two texts without words).
    public static func textSimilarity(_ a: String, _ b: String) -> Double {
        jaccard(shingles(of: a), shingles(of: b))
    }

    /// Every run of `size` consecutive words, lowercased, with punctuation ignored; a shorter text is one shingle.
    public static func shingles(of text: String, size: Int = 3) -> Set<String> {
        precondition(size > 0, "shingles need at least one word")
        let words = text.lowercased()
            .split { !$0.isLetter && !$0.isNumber }
            .map(String.init)
        guard words.count > size else { return words.isEmpty ? [] : [words.joined(separator: " ")] }
        return Set((0...(words.count - size)).map { words[$0..<($0 + size)].joined(separator: " ") })
    }

    private static func jaccard(_ a: Set<String>, _ b: Set<String>) -> Double {
        if a.isEmpty && b.isEmpty { return 1 }
        return Double(a.intersection(b).count) / Double(a.union(b).count)
    }
}
