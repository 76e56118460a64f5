import Foundation

/// A typed identifier: an `Identifier<Session>` can't be passed where an `Identifier<Event>` is expected.
///
/// Encodes as a bare string, so it is invisible on the wire and in SQLite.
public struct Identifier<Subject>: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// A new random identifier with a readable prefix (`ses_…`, `evt_…`).
    public static func random(prefix: String) -> Self {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return Self(rawValue: prefix + "_" + hex(high) + hex(low))
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
}
