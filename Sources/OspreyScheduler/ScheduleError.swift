/// Why a schedule's text could not be parsed; `description` says what to change.
public enum ScheduleError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text was empty or only whitespace.
    case empty
    /// A cron expression had this many fields instead of five.
    case wrongFieldCount(Int)
    /// The text started with `@` but named no known macro.
    case unknownMacro(String)
    /// A list item of a cron field was not a number, a name, `*`, a range or a step (empty for `1,,2`).
    case invalidValue(field: CronExpression.Field, text: String)
    /// A value of a cron field lies outside the values the field accepts.
    case valueOutOfRange(field: CronExpression.Field, value: Int, range: ClosedRange<Int>)
    /// A range of a cron field ends before it starts, such as `5-1`.
    case reversedRange(field: CronExpression.Field, text: String)
    /// The step after `/` in a cron field was not a number.
    case invalidStep(field: CronExpression.Field, text: String)
    /// The step after `/` in a cron field was zero or longer than the field.
    case stepOutOfRange(field: CronExpression.Field, step: Int, range: ClosedRange<Int>)
    /// A cron expression names only days that no allowed month has, such as February 30th.
    case neverFires(String)
    /// The text after `@every` was not a duration.
    case invalidInterval(String)
    /// The duration after `@every` was shorter than one second.
    case intervalTooShort(String)
    /// The text after `@at` was not an RFC 3339 timestamp.
    case invalidTimestamp(String)

    public var description: String {
        switch self {
        case .empty:
            "the schedule is empty; write a cron expression such as '0 9 * * mon-fri', '@every 10m' or "
                + "'@at 2026-12-24T18:00:00Z'"
        case .wrongFieldCount(let count):
            "expected 5 fields (minute hour day-of-month month day-of-week), found \(count)"
        case .unknownMacro(let text):
            "'\(text)' is not a known schedule; the @ forms are @yearly, @annually, @monthly, @weekly, @daily, "
                + "@midnight, @hourly, @every <duration> and @at <timestamp>"
        case .invalidValue(let field, let text) where text.isEmpty:
            "\(field) field: empty list item"
        case .invalidValue(let field, let text):
            "\(field) field: '\(text)' is not \(field.expectedValue)"
        case .valueOutOfRange(let field, let value, let range):
            "\(field) field: \(value) is out of range \(range.lowerBound)-\(range.upperBound)"
        case .reversedRange(let field, let text):
            "\(field) field: range \(text) ends before it starts; write the lower bound first (ranges do not wrap)"
        case .invalidStep(let field, let text):
            "\(field) field: step '\(text)' is not a number"
        case .stepOutOfRange(let field, let step, let range):
            "\(field) field: step \(step) is out of range \(range.lowerBound)-\(range.upperBound)"
        case .neverFires(let text):
            "'\(text)' can never fire: none of its months has any of its days of the month"
        case .invalidInterval(let text) where text.isEmpty:
            "@every needs a duration, such as 45s, 10m or 1h30m"
        case .invalidInterval(let text):
            "@every \(text): not a duration; write whole numbers with units h, m and s in that order, "
                + "such as 45s, 10m or 1h30m"
        case .intervalTooShort(let text):
            "@every \(text): the interval must be at least 1s"
        case .invalidTimestamp(let text) where text.isEmpty:
            "@at needs an RFC 3339 timestamp, such as 2026-12-24T18:00:00Z or 2026-12-24T18:00:00+01:00"
        case .invalidTimestamp(let text):
            "@at \(text): not an RFC 3339 timestamp with a valid date, time and offset, "
                + "such as 2026-12-24T18:00:00Z or 2026-12-24T18:00:00+01:00"
        }
    }
}
