import Foundation

/// A typed identifier: an `Identifier<Session>` can't be passed where an `Identifier<Event>` is expected.
///
/// Encodes as a bare string, so it is invisible on the wire and in SQLite.
public struct Identifier<Subject>: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// A new identifier with a readable prefix (`ses_…`, `evt_…`): 32 hex digits, the first 12 the milliseconds
    /// since 1970 and the other 20 random (80 bits, as in a UUIDv7).
    ///
    /// Time first, so a table's index over its ids grows at its right edge: a transaction that inserts many rows
    /// dirties (and writes to the WAL) a few pages of the index, not one random page per row.
    public static func random(prefix: String) -> Self {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, Date().timeIntervalSince1970 * 1000)) & 0xFFFF_FFFF_FFFF
        let random = generator.next() as UInt64
        let high = milliseconds << 16 | random >> 48
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
