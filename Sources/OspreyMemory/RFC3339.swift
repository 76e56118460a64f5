import Foundation
import OspreyCore

/// RFC 3339 timestamps in UTC (`2026-05-01T09:30:00Z`, `2026-05-01T09:30:00.250Z`), kept to the millisecond.
///
/// Written by hand rather than with `ISO8601DateFormatter` so that parsing is strict (only `Z`, only valid
/// calendar dates) and formatting round-trips exactly: both directions go through whole milliseconds.
enum RFC3339 {
    /// The date rounded to the nearest millisecond, the precision memory files keep.
    static func millisecondPrecision(_ date: Date) -> Date {
        guard let milliseconds = milliseconds(of: date) else { return date }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// The date as text, with three fractional digits only when the milliseconds aren't zero.
    static func format(_ date: Date) -> String {
        guard let total = milliseconds(of: date) else { return "invalid" }
        let (seconds, millisecond) = floorDivide(total, 1000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let civil = CivilDate(daysSinceEpoch: days)
        let (year, month, day) = (civil.year, civil.month, civil.day)
        var text =
            pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if millisecond != 0 { text += "." + pad(millisecond, 3) }
        return text + "Z"
    }

    /// The date the text names, or nil unless it is `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with a valid date and time.
    static func parse(_ text: some StringProtocol) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let digit = Int(bytes[index]) - 48
                guard (0...9).contains(digit) else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        for (index, separator) in separators where bytes[index] != separator.asciiValue {
            return nil
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var millisecond = 0
        let fraction = 19..<(bytes.count - 1)
        if !fraction.isEmpty {
            // Up to nine fractional digits (nanoseconds), rounded to the millisecond.
            guard bytes[19] == UInt8(ascii: "."), (2...10).contains(fraction.count),
                let digits = number(20..<(bytes.count - 1))
            else { return nil }
            var scale = 1
            for _ in 0..<(fraction.count - 1) { scale *= 10 }
            millisecond = (digits * 1000 + scale / 2) / scale
        }
        let days = CivilDate(year: year, month: month, day: day).daysSinceEpoch
        let total = ((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millisecond
        return Date(timeIntervalSince1970: Double(total) / 1000)
    }

    /// Whole milliseconds since 1970, or nil for dates outside years 0000...9999 (and NaN).
    private static func milliseconds(of date: Date) -> Int? {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        // -62_167_219_200_000 is 0000-01-01T00:00:00Z and 253_402_300_800_000 is 10000-01-01T00:00:00Z.
        guard value >= -62_167_219_200_000, value < 253_402_300_800_000 else { return nil }
        return Int(value)
    }

    /// Whether the date can be written in a memory file.
    static func isRepresentable(_ date: Date) -> Bool { milliseconds(of: date) != nil }

    private static func floorDivide(_ value: Int, _ divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = ((value % divisor) + divisor) % divisor
        return ((value - remainder) / divisor, remainder)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
