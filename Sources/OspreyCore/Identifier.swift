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
        // The prefix, "_", then both words as 16 hex digits each, written in place.
        let head = prefix.utf8
        let text = String(unsafeUninitializedCapacity: head.count + 33) { output in
            var index = 0
            for byte in head {
                output[index] = byte
                index += 1
            }
            output[index] = UInt8(ascii: "_")
            index += 1
            for shift in stride(from: 60, through: 0, by: -4) {
                output[index] = String.hexDigit(UInt8(truncatingIfNeeded: high >> UInt64(shift)) & 0x0F)
                output[index + 16] = String.hexDigit(UInt8(truncatingIfNeeded: low >> UInt64(shift)) & 0x0F)
                index += 1
            }
            return index + 16
        }
        return Self(rawValue: text)
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
        last.withLock { last in
            if milliseconds > last.high >> 16 {
                // A new millisecond: fresh random bits, drawn only then (each draw is a system call).
                var generator = SystemRandomNumberGenerator()
                last = (milliseconds << 16 | (generator.next() as UInt64) >> 48, generator.next() as UInt64)
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
