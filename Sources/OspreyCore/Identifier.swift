import Foundation
import Synchronization

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
    ///
    /// Ids made in one process also sort in the order they were made: within one millisecond (or when the clock
    /// steps back) the next id is the last one plus one, as in a monotonic ULID, so "oldest first" over
    /// `created_at, id` holds for rows made in the same millisecond (tasks submitted together, recovered in order).
    public static func random(prefix: String) -> Self {
        let milliseconds = UInt64(max(0, Date().timeIntervalSince1970 * 1000)) & 0xFFFF_FFFF_FFFF
        let (high, low) = IdentifierClock.next(milliseconds: milliseconds)
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

/// The last id's 128 bits (48 of milliseconds, 80 random), shared by every ``Identifier`` type of the process.
enum IdentifierClock {
    private static let last = Mutex<(high: UInt64, low: UInt64)>((0, 0))

    /// The next id's bits: fresh random bits after the last id's millisecond, else the last id plus one.
    static func next(milliseconds: UInt64) -> (high: UInt64, low: UInt64) {
        var generator = SystemRandomNumberGenerator()
        let fresh = (high: milliseconds << 16 | (generator.next() as UInt64) >> 48, low: generator.next() as UInt64)
        return last.withLock { last in
            if fresh.high >> 16 > last.high >> 16 {
                last = fresh
            } else {
                // The same millisecond (or an earlier one): one more than the last, carrying into the high word;
                // 80 random bits leave room for ~2⁷⁹ more ids in that millisecond.
                let (low, carry) = last.low.addingReportingOverflow(1)
                last = (last.high &+ (carry ? 1 : 0), low)
            }
            return last
        }
    }
}
