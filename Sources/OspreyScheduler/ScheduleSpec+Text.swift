import Foundation
import OspreyCore

extension ScheduleSpec {
    /// Parses `@every <duration>`, `@at <RFC 3339 timestamp>`, or else a cron expression or cron macro.
    ///
    /// A duration is whole numbers with units `h`, `m` and `s`, each at most once and in that order (`45s`,
    /// `10m`, `1h30m`), of at least one second. A timestamp needs a date, a time and an offset
    /// (`2026-12-24T18:00:00Z`, `2026-12-24T18:00:00.5+05:30`).
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyword = trimmed.prefix { !$0.isWhitespace }
        let argument = String(trimmed.dropFirst(keyword.count).drop { $0.isWhitespace })
        switch keyword.lowercased() {
        case "@every":
            self = .every(try Self.parseInterval(argument))
        case "@at":
            self = .at(try Self.parseTimestamp(argument))
        default:
            self = .cron(try CronExpression(trimmed))
        }
    }

    /// Parses `1h30m`-style durations into whole seconds.
    static func parseInterval(_ text: String) throws -> Duration {
        let units: [(symbol: Character, seconds: Int)] = [("h", 3600), ("m", 60), ("s", 1)]
        var total = 0
        var digits = ""
        // Units must come in the order of `units`, each once; this is the index of the next one allowed.
        var nextUnit = 0
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            guard let unit = units[nextUnit...].firstIndex(where: { $0.symbol == character }),
                !digits.isEmpty, digits.count <= 9, let amount = Int(digits)
            else { throw ScheduleError.invalidInterval(text) }
            total += amount * units[unit].seconds
            digits = ""
            nextUnit = unit + 1
        }
        guard digits.isEmpty, nextUnit > 0 else { throw ScheduleError.invalidInterval(text) }
        guard total >= 1 else { throw ScheduleError.intervalTooShort(text) }
        return .seconds(total)
    }

    /// Parses an RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`.
    ///
    /// `t`, `z` and a space in place of `T` are accepted, as RFC 3339 allows. A leap second (`:60`) is not.
    static func parseTimestamp(_ text: String) throws -> Date {
        var scanner = TimestampScanner(text)
        guard let date = scanner.scanDate() else { throw ScheduleError.invalidTimestamp(text) }
        return date
    }

    static func format(_ interval: Duration) -> String {
        let (seconds, attoseconds) = interval.components
        guard attoseconds == 0, seconds > 0 else { return "\(interval.timeInterval)s" }
        let parts = [(seconds / 3600, "h"), (seconds / 60 % 60, "m"), (seconds % 60, "s")]
        return parts.filter { $0.0 > 0 }.map { "\($0.0)\($0.1)" }.joined()
    }

    static func format(_ instant: Date) -> String {
        let whole = instant.timeIntervalSince1970.rounded(.down)
        let (days, secondOfDay) = Int(whole).quotientAndFloorRemainder(dividingBy: CivilDate.secondsPerDay)
        let day = CivilDate(daysSinceEpoch: days)
        func pad(_ value: Int, _ width: Int = 2) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let time = "\(pad(secondOfDay / 3600)):\(pad(secondOfDay / 60 % 60)):\(pad(secondOfDay % 60))"
        let milliseconds = Int(((instant.timeIntervalSince1970 - whole) * 1000).rounded())
        let fraction = milliseconds > 0 && milliseconds < 1000 ? ".\(pad(milliseconds, 3))" : ""
        return "\(pad(day.year, 4))-\(pad(day.month))-\(pad(day.day))T\(time)\(fraction)Z"
    }
}

/// Reads an RFC 3339 timestamp character by character.
private struct TimestampScanner {
    private let characters: [Character]
    private var position = 0

    init(_ text: String) {
        characters = Array(text)
    }

    /// The instant the whole text names, or nil if it is not exactly one valid timestamp.
    mutating func scanDate() -> Date? {
        guard let year = digits(4), skip("-"), let month = digits(2), skip("-"), let day = digits(2),
            skip("T", "t", " "), let hour = digits(2), skip(":"), let minute = digits(2), skip(":"),
            let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), (1...CivilDate.daysInMonth(month, of: year)).contains(day),
            (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        var fraction = 0.0
        if skip(".") {
            let start = position
            while position < characters.count, characters[position].isASCII, characters[position].isNumber {
                position += 1
            }
            guard position > start, let value = Double("0." + String(characters[start..<position])) else {
                return nil
            }
            fraction = value
        }
        guard let offset = scanOffset(), position == characters.count else { return nil }
        let days = CivilDate(year: year, month: month, day: day).daysSinceEpoch
        let seconds = days * CivilDate.secondsPerDay + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: TimeInterval(seconds) + fraction)
    }

    /// `Z` or `±HH:MM`, in seconds east of UTC.
    private mutating func scanOffset() -> Int? {
        if skip("Z", "z") { return 0 }
        let sign: Int
        if skip("+") {
            sign = 1
        } else if skip("-") {
            sign = -1
        } else {
            return nil
        }
        guard let hours = digits(2), skip(":"), let minutes = digits(2), hours <= 23, minutes <= 59 else {
            return nil
        }
        return sign * (hours * 3600 + minutes * 60)
    }

    /// Exactly `count` ASCII digits as a number.
    private mutating func digits(_ count: Int) -> Int? {
        guard position + count <= characters.count else { return nil }
        let slice = characters[position..<position + count]
        guard slice.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(String(slice)) else { return nil }
        position += count
        return value
    }

    /// Consumes one of `options` if it comes next.
    private mutating func skip(_ options: Character...) -> Bool {
        guard position < characters.count, options.contains(characters[position]) else { return false }
        position += 1
        return true
    }
}
