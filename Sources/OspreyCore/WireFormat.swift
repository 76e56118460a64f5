public import Foundation

/// The one wire format for dates and JSON: RFC 3339 UTC timestamps with milliseconds, snake_case kept as written.
public enum WireFormat {
    /// Formats an instant as `2026-11-23T09:31:41.123Z` (milliseconds truncated, as Foundation's ISO 8601 style does).
    ///
    /// Every event is stamped, so the years 1970-9999 are written by hand (Foundation's style cost a few per cent
    /// of a ledger append); `WireFormatTests` checks both agree, and Foundation writes the others.
    public static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        guard interval >= 0, interval < 253_402_300_800 else { return date.formatted(timestampStyle) }
        let seconds = interval.rounded(.down)
        let milliseconds = Int((interval - seconds) * 1000)
        let whole = Int(seconds)
        let secondOfDay = whole % 86_400
        let civil = CivilDate(daysSinceEpoch: whole / 86_400)
        return String(unsafeUninitializedCapacity: 24) { output in
            func put(_ value: Int, digits: Int, at index: Int, then separator: Unicode.Scalar) {
                var value = value
                for position in stride(from: index + digits - 1, through: index, by: -1) {
                    output[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                output[index + digits] = UInt8(ascii: separator)
            }
            put(civil.year, digits: 4, at: 0, then: "-")
            put(civil.month, digits: 2, at: 5, then: "-")
            put(civil.day, digits: 2, at: 8, then: "T")
            put(secondOfDay / 3600, digits: 2, at: 11, then: ":")
            put(secondOfDay / 60 % 60, digits: 2, at: 14, then: ":")
            put(secondOfDay % 60, digits: 2, at: 17, then: ".")
            put(milliseconds, digits: 3, at: 20, then: "Z")
            return 24
        }
    }

    /// Parses a timestamp written by ``timestamp(_:)`` (or any RFC 3339 UTC time, with or without fraction).
    public static func date(from text: String) -> Date? {
        if let date = try? timestampStyle.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(timeZone: .gmt).parse(text)
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    /// The shared encoder: sorted keys, dates as RFC 3339 with milliseconds.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }

    /// The shared decoder, the inverse of ``encoder``.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = date(from: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "Not an RFC 3339 time: \(text)")
            }
            return date
        }
        return decoder
    }

    /// Encodes a value to a UTF-8 JSON string.
    public static func string(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension Duration {
    /// The duration in seconds, as Foundation measures time.
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
