public import Foundation
public import OspreyCore

/// A seeded generator, so random test data is the same on every run.
public typealias SeededGenerator = SplitMix64

/// `count` random unit vectors of `dimension` floats, the same for the same seed.
public func randomUnitVectors(count: Int, dimension: Int, seed: UInt64) -> [[Float]] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in
        let raw = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { $0 / norm }
    }
}

/// A date from its RFC 3339 text, for readable fixtures.
public func date(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime]
    // Fixtures are literals in this file's callers; a typo there is a broken test, not a runtime condition.
    return formatter.date(from: text)!
}
