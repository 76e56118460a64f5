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
    /// similarity) with a better-ranked kept result; stops once `limit` are kept, so texts past that are never read.
    public static func removing<Result>(
        from ranked: [Result],
        jaccardThreshold threshold: Double = 0.8,
        limit: Int = .max,
        text: (Result) -> String
    ) -> [Result] {
        var kept: [Result] = []
        var keptShingles: [[UInt64]] = []
        for result in ranked where kept.count < limit {
            let shingles = shingleHashes(of: text(result))
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
        jaccard(shingleHashes(of: a), shingleHashes(of: b))
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

    /// The same shingles as ``shingles(of:size:)``, each as a 64-bit hash of its words (FNV-1a per word, mixed in
    /// order), sorted and unique: no string is built, and two sets compare by one merge. A false match needs a
    /// 64-bit collision.
    static func shingleHashes(of text: String, size: Int = 3) -> [UInt64] {
        let words = asciiWordHashes(text) ?? wordHashes(text)
        func mix(_ run: ArraySlice<UInt64>) -> UInt64 {
            run.reduce(UInt64(run.count)) { ($0 &* 0x9e37_79b9_7f4a_7c15) ^ $1 ^ ($1 >> 29) }
        }
        guard words.count > size else { return words.isEmpty ? [] : [mix(words[...])] }
        var shingles = (0...(words.count - size)).map { mix(words[$0..<($0 + size)]) }
        shingles.sort()
        var unique = 0
        for value in shingles where unique == 0 || shingles[unique - 1] != value {
            shingles[unique] = value
            unique += 1
        }
        shingles.removeLast(shingles.count - unique)
        return shingles
    }

    /// Word hashes as the words go by: FNV-1a over each word's bytes, a word ending at any other character.
    private struct WordHasher {
        private static let basis: UInt64 = 0xcbf2_9ce4_8422_2325
        private(set) var words: [UInt64] = []
        private var hash = basis
        private var inWord = false

        mutating func add(_ byte: UInt8) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            inWord = true
        }

        mutating func endWord() {
            guard inWord else { return }
            words.append(hash)
            hash = Self.basis
            inWord = false
        }
    }

    /// Each word's FNV-1a hash, words being runs of letters and digits of the lowercased text.
    private static func wordHashes(_ text: String) -> [UInt64] {
        var hasher = WordHasher()
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                for byte in character.utf8 { hasher.add(byte) }
            } else {
                hasher.endWord()
            }
        }
        hasher.endWord()
        return hasher.words
    }

    /// ``wordHashes(_:)`` for an ASCII text, byte by byte with no lowercased copy and no grapheme breaking (the same
    /// hashes: ASCII letters lowercase to ASCII letters); nil when the text has a non-ASCII byte.
    private static func asciiWordHashes(_ text: String) -> [UInt64]? {
        var text = text
        return text.withUTF8 { bytes -> [UInt64]? in
            var hasher = WordHasher()
            for byte in bytes {
                guard byte < 0x80 else { return nil }
                let lower = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                if (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z"))
                    || (lower >= UInt8(ascii: "0") && lower <= UInt8(ascii: "9"))
                {
                    hasher.add(lower)
                } else {
                    hasher.endWord()
                }
            }
            hasher.endWord()
            return hasher.words
        }
    }

    /// Jaccard of two sorted, unique arrays, by one merge.
    private static func jaccard(_ a: [UInt64], _ b: [UInt64]) -> Double {
        if a.isEmpty && b.isEmpty { return 1 }
        var i = 0
        var j = 0
        var shared = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] {
                shared += 1
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return Double(shared) / Double(a.count + b.count - shared)
    }
}
