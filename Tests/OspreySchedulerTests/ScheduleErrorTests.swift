import Testing

@testable import OspreyScheduler

struct ScheduleErrorTests {
    @Test(arguments: [
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("*/0 * * * *", "minute field: step 0 is out of range 1-60"),
        ("*/61 * * * *", "minute field: step 61 is out of range 1-60"),
        ("0 */25 * * *", "hour field: step 25 is out of range 1-24"),
        ("*/x * * * *", "minute field: step 'x' is not a number"),
        (
            "5-1 * * * *",
            "minute field: range 5-1 ends before it starts; write the lower bound first (ranges do not wrap)"
        ),
        (
            "0 0 * * fri-mon",
            "day-of-week field: range fri-mon ends before it starts; write the lower bound first (ranges do not wrap)"
        ),
        ("0 0 * * foo", "day-of-week field: 'foo' is not a number or a day name (sun-sat)"),
        ("0 0 * foo *", "month field: 'foo' is not a number or a month name (jan-dec)"),
        ("0 mon * * *", "hour field: 'mon' is not a number"),
        ("0 0 * * monday", "day-of-week field: 'monday' is not a number or a day name (sun-sat)"),
        ("-5 * * * *", "minute field: '-5' is not a number"),
        ("1,,2 * * * *", "minute field: empty list item"),
        ("? * * * *", "minute field: '?' is not a number"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        ("0 * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        (
            "",
            "the schedule is empty; write a cron expression such as '0 9 * * mon-fri', '@every 10m' or '@at 2026-12-24T18:00:00Z'"
        ),
        (
            " \t",
            "the schedule is empty; write a cron expression such as '0 9 * * mon-fri', '@every 10m' or '@at 2026-12-24T18:00:00Z'"
        ),
        ("0 0 30 2 *", "'0 0 30 2 *' can never fire: none of its months has any of its days of the month"),
        (
            "0 0 31 4,6,9,11 *",
            "'0 0 31 4,6,9,11 *' can never fire: none of its months has any of its days of the month"
        ),
        (
            "@often",
            "'@often' is not a known schedule; the @ forms are @yearly, @annually, @monthly, @weekly, @daily, "
                + "@midnight, @hourly, @every <duration> and @at <timestamp>"
        ),
        (
            "@daily 5",
            "'@daily 5' is not a known schedule; the @ forms are @yearly, @annually, @monthly, @weekly, @daily, "
                + "@midnight, @hourly, @every <duration> and @at <timestamp>"
        ),
        ("@every 0s", "@every 0s: the interval must be at least 1s"),
        ("@every 0h0m0s", "@every 0h0m0s: the interval must be at least 1s"),
        (
            "@every 10x",
            "@every 10x: not a duration; write whole numbers with units h, m and s in that order, "
                + "such as 45s, 10m or 1h30m"
        ),
        (
            "@every 30m1h",
            "@every 30m1h: not a duration; write whole numbers with units h, m and s in that order, "
                + "such as 45s, 10m or 1h30m"
        ),
        ("@every", "@every needs a duration, such as 45s, 10m or 1h30m"),
        (
            "@at 2026-02-29T18:00:00Z",
            "@at 2026-02-29T18:00:00Z: not an RFC 3339 timestamp with a valid date, time and offset, "
                + "such as 2026-12-24T18:00:00Z or 2026-12-24T18:00:00+01:00"
        ),
        ("@at", "@at needs an RFC 3339 timestamp, such as 2026-12-24T18:00:00Z or 2026-12-24T18:00:00+01:00"),
    ])
    func anInvalidScheduleIsRejectedWithAMessageThatSaysWhatToFix(_ text: String, _ message: String) {
        let error = #expect(throws: ScheduleError.self) { try ScheduleSpec(parsing: text) }
        #expect(error?.description == message)
    }

    @Test(arguments: [
        ("61 * * * *", ScheduleError.valueOutOfRange(field: .minute, value: 61, range: 0...59)),
        ("*/0 * * * *", .stepOutOfRange(field: .minute, step: 0, range: 1...60)),
        ("0 0 * * 5-1", .reversedRange(field: .dayOfWeek, text: "5-1")),
        ("0 0 * foo *", .invalidValue(field: .month, text: "foo")),
        ("* * * *", .wrongFieldCount(4)),
        ("* * * * * *", .wrongFieldCount(6)),
        ("", .empty),
        ("@every 0s", .intervalTooShort("0s")),
        ("@every 10x", .invalidInterval("10x")),
        ("@at tomorrow", .invalidTimestamp("tomorrow")),
    ])
    func anErrorCarriesTheOffendingFieldAndValue(_ text: String, _ expected: ScheduleError) {
        #expect(throws: expected) { try ScheduleSpec(parsing: text) }
    }

    @Test(arguments: [
        "@every 1h1h", "@every 1.5h", "@every -5m", "@every 10", "@every h", "@every 10M", "@every 1d", "@every 10 m",
        "@every 1234567890s",
    ])
    func aMalformedIntervalIsRejected(_ text: String) {
        #expect(throws: ScheduleError.invalidInterval(String(text.dropFirst("@every ".count)))) {
            try ScheduleSpec(parsing: text)
        }
    }

    @Test(arguments: [
        "2026-12-24T18:00:00", "2026-12-24", "2026-12-24T18:00Z", "2026-13-01T00:00:00Z", "2026-12-32T00:00:00Z",
        "2026-12-24T24:00:00Z", "2026-12-24T18:60:00Z", "2026-12-24T18:00:60Z", "2026-12-24T18:00:00+24:00",
        "2026-12-24T18:00:00+0100", "2026-12-24T18:00:00.Z", "2026-12-24T18:00:00Z trailing", "26-12-24T18:00:00Z",
    ])
    func aMalformedTimestampIsRejected(_ timestamp: String) {
        #expect(throws: ScheduleError.invalidTimestamp(timestamp)) { try ScheduleSpec(parsing: "@at \(timestamp)") }
    }
}
