public import OspreyCore

/// A deterministic stand-in embedder: hashed bag of lower-cased words, L2-normalized. Texts that share words are
/// close; it needs no model file, so search logic can be tested in milliseconds.
public struct HashingEmbedder: Embedder {
    public let dimensions: Int
    public var model: String { "hashing-\(dimensions)" }

    public init(dimensions: Int = 64) { self.dimensions = dimensions }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            var vector = [Float](repeating: 0, count: dimensions)
            for word in text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }) {
                // FNV-1a: stable across runs, unlike Hasher.
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in word.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                vector[Int(hash % UInt64(dimensions))] += 1
            }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? vector.map { $0 / norm } : vector
        }
    }
}
