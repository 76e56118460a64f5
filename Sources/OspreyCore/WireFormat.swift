public import Foundation

/// The one wire format for dates and JSON: RFC 3339 UTC timestamps with milliseconds, snake_case kept as written.
public enum WireFormat {
    /// Formats an instant as `2026-11-23T09:31:41.123Z`.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(timestampStyle)
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
