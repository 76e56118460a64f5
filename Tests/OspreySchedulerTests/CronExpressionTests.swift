import Foundation
import Testing

@testable import OspreyScheduler

/// One row of the next-fire table: an expression, where the search starts, in which zone, and the expected answer.
struct NextFireCase: Sendable, CustomTestStringConvertible {
    let expression: String
    let start: String
    let zone: String
    let expected: String

    init(_ expression: String, _ start: String, in zone: String = "UTC", _ expected: String) {
        self.expression = expression
        self.start = start
        self.zone = zone
        self.expected = expected
    }

    var testDescription: String { "'\(expression)' after \(start) in \(zone)" }
}

// 2024-05-15 is a Wednesday. Expected values were worked out by hand. A one-off check against croniter 7.0.0 agreed
// on all rows but five, where croniter differs by design: it treats `*/2` as restricting the day rule, and fires
// the second occurrence of a wall time repeated by a fall-back.
let nextFireCases: [NextFireCase] = [
    // Field syntax.
    NextFireCase("* * * * *", "2024-05-15T10:20:30Z", "2024-05-15T10:21:00Z"),
    NextFireCase("* * * * *", "2024-05-15T10:20:00Z", "2024-05-15T10:21:00Z"),
    NextFireCase("30 * * * *", "2024-05-15T10:20:30Z", "2024-05-15T10:30:00Z"),
    NextFireCase("15 * * * *", "2024-05-15T10:20:30Z", "2024-05-15T11:15:00Z"),
    NextFireCase("0,20,40 * * * *", "2024-05-15T10:20:30Z", "2024-05-15T10:40:00Z"),
    NextFireCase("10-15 * * * *", "2024-05-15T10:20:30Z", "2024-05-15T11:10:00Z"),
    NextFireCase("*/15 * * * *", "2024-05-15T10:20:30Z", "2024-05-15T10:30:00Z"),
    NextFireCase("10-50/10 * * * *", "2024-05-15T10:50:00Z", "2024-05-15T11:10:00Z"),
    NextFireCase("5/20 * * * *", "2024-05-15T10:20:30Z", "2024-05-15T10:25:00Z"),
    NextFireCase("0 9-17/4 * * *", "2024-05-15T10:20:30Z", "2024-05-15T13:00:00Z"),
    NextFireCase("0 */6 * * *", "2024-05-15T10:20:30Z", "2024-05-15T12:00:00Z"),
    NextFireCase("0 0 1-3,15 * *", "2024-05-15T10:20:30Z", "2024-06-01T00:00:00Z"),
    NextFireCase("0 0 * * *", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z"),
    NextFireCase("59 23 31 12 *", "2024-12-31T23:59:00Z", "2025-12-31T23:59:00Z"),
    // Month and day names, any case; Sunday as 0, 7 and sun.
    NextFireCase("0 0 1 jan *", "2024-05-15T10:20:30Z", "2025-01-01T00:00:00Z"),
    NextFireCase("0 12 * JUN-aug *", "2024-05-15T10:20:30Z", "2024-06-01T12:00:00Z"),
    NextFireCase("0 0 1 */3 *", "2024-05-15T10:20:30Z", "2024-07-01T00:00:00Z"),
    NextFireCase("0 9 * * mon-fri", "2024-05-17T10:00:00Z", "2024-05-20T09:00:00Z"),
    NextFireCase("0 9 * * 1-5", "2024-05-18T08:00:00Z", "2024-05-20T09:00:00Z"),
    NextFireCase("0 8 * * 0", "2024-05-15T10:20:30Z", "2024-05-19T08:00:00Z"),
    NextFireCase("0 8 * * 7", "2024-05-15T10:20:30Z", "2024-05-19T08:00:00Z"),
    NextFireCase("0 8 * * Sat,SUN", "2024-05-15T10:20:30Z", "2024-05-18T08:00:00Z"),
    NextFireCase("0 8 * * 5-7", "2024-05-18T09:00:00Z", "2024-05-19T08:00:00Z"),
    // Vixie day rule: both restricted means either; a field starting with * means both.
    NextFireCase("0 0 13 * fri", "2024-05-15T10:20:30Z", "2024-05-17T00:00:00Z"),
    NextFireCase("0 0 16 * mon", "2024-05-15T10:20:30Z", "2024-05-16T00:00:00Z"),
    NextFireCase("0 0 */2 * mon", "2024-05-15T10:20:30Z", "2024-05-27T00:00:00Z"),
    // Month ends and leap years.
    NextFireCase("0 0 31 * *", "2024-09-01T00:00:00Z", "2024-10-31T00:00:00Z"),
    NextFireCase("0 0 31 * *", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z"),
    NextFireCase("0 0 30 * *", "2024-02-01T00:00:00Z", "2024-03-30T00:00:00Z"),
    NextFireCase("0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
    NextFireCase("0 0 29 2 *", "2023-06-01T00:00:00Z", "2024-02-29T00:00:00Z"),
    NextFireCase("0 0 28 2 *", "2024-02-28T00:00:00Z", "2025-02-28T00:00:00Z"),
    NextFireCase("0 12 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T12:00:00Z"),
    // Macros.
    NextFireCase("@yearly", "2024-05-15T10:20:30Z", "2025-01-01T00:00:00Z"),
    NextFireCase("@annually", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z"),
    NextFireCase("@monthly", "2024-05-15T10:20:30Z", "2024-06-01T00:00:00Z"),
    NextFireCase("@weekly", "2024-05-15T10:20:30Z", "2024-05-19T00:00:00Z"),
    NextFireCase("@daily", "2024-05-15T10:20:30Z", "2024-05-16T00:00:00Z"),
    NextFireCase("@midnight", "2024-05-15T23:59:00Z", "2024-05-16T00:00:00Z"),
    NextFireCase("@hourly", "2024-05-15T10:20:30Z", "2024-05-15T11:00:00Z"),
    // UTC+5:30: the local day and weekday differ from UTC's.
    NextFireCase("0 9 * * *", "2024-05-15T09:30:00+05:30", in: "Asia/Kolkata", "2024-05-16T09:00:00+05:30"),
    NextFireCase("30 0 * * *", "2024-05-14T23:30:00+05:30", in: "Asia/Kolkata", "2024-05-15T00:30:00+05:30"),
    NextFireCase("0 0 1 1 *", "2024-12-31T23:30:00+05:30", in: "Asia/Kolkata", "2025-01-01T00:00:00+05:30"),
    NextFireCase("0 1 * * mon", "2024-05-19T19:00:00Z", in: "Asia/Kolkata", "2024-05-20T01:00:00+05:30"),
    // New York springs forward on 2024-03-10 and 2025-03-09: 02:00-02:59 never happens; fire at 03:00 EDT once.
    NextFireCase("30 2 * * *", "2024-03-10T00:00:00-05:00", in: "America/New_York", "2024-03-10T03:00:00-04:00"),
    NextFireCase("30 2 * * *", "2024-03-10T03:00:00-04:00", in: "America/New_York", "2024-03-11T02:30:00-04:00"),
    NextFireCase("*/15 * * * *", "2024-03-10T01:50:00-05:00", in: "America/New_York", "2024-03-10T03:00:00-04:00"),
    NextFireCase("*/15 * * * *", "2024-03-10T03:00:00-04:00", in: "America/New_York", "2024-03-10T03:15:00-04:00"),
    NextFireCase("30 3 * * *", "2024-03-10T01:00:00-05:00", in: "America/New_York", "2024-03-10T03:30:00-04:00"),
    NextFireCase("45 2 9 3 *", "2025-01-01T00:00:00-05:00", in: "America/New_York", "2025-03-09T03:00:00-04:00"),
    // New York falls back on 2024-11-03: 01:00-01:59 happens twice; fire at the first occurrence only.
    NextFireCase("30 1 * * *", "2024-11-03T00:00:00-04:00", in: "America/New_York", "2024-11-03T01:30:00-04:00"),
    NextFireCase("30 1 * * *", "2024-11-03T01:30:00-04:00", in: "America/New_York", "2024-11-04T01:30:00-05:00"),
    NextFireCase("*/30 * * * *", "2024-11-03T01:45:00-04:00", in: "America/New_York", "2024-11-03T02:00:00-05:00"),
    NextFireCase("0 * * * *", "2024-11-03T01:00:00-04:00", in: "America/New_York", "2024-11-03T02:00:00-05:00"),
    NextFireCase("0 2 * * *", "2024-11-03T01:30:00-05:00", in: "America/New_York", "2024-11-03T02:00:00-05:00"),
    // Berlin springs forward on 2024-03-31 (02:00-02:59 skipped) and falls back on 2024-10-27 (02:00-02:59 twice).
    NextFireCase("30 2 * * *", "2024-03-31T00:00:00+01:00", in: "Europe/Berlin", "2024-03-31T03:00:00+02:00"),
    NextFireCase("0 3 * * *", "2024-03-31T00:00:00+01:00", in: "Europe/Berlin", "2024-03-31T03:00:00+02:00"),
    NextFireCase("30 2 * * *", "2024-03-31T03:00:00+02:00", in: "Europe/Berlin", "2024-04-01T02:30:00+02:00"),
    NextFireCase("30 2 * * *", "2024-10-27T01:00:00+02:00", in: "Europe/Berlin", "2024-10-27T02:30:00+02:00"),
    NextFireCase("30 2 * * *", "2024-10-27T02:30:00+02:00", in: "Europe/Berlin", "2024-10-28T02:30:00+01:00"),
    NextFireCase("0 0 * * *", "2024-12-31T23:59:00+01:00", in: "Europe/Berlin", "2025-01-01T00:00:00+01:00"),
    NextFireCase("0 0 1 * *", "2024-03-15T12:00:00+01:00", in: "Europe/Berlin", "2024-04-01T00:00:00+02:00"),
]

struct CronExpressionTests {
    @Test(arguments: nextFireCases)
    func nextFireIsTheFirstMatchingMinuteStrictlyAfterTheStart(_ row: NextFireCase) throws {
        let expression = try CronExpression(row.expression)
        let fire = expression.nextFire(after: try instant(row.start), in: try zone(row.zone))
        #expect(fire == (try instant(row.expected)))
    }

    @Test(arguments: [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 jan *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 7"),
        ("@daily", "0 0 * * *"),
        ("@MIDNIGHT", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("0 0 * * 0", "0 0 * * sun"),
        ("0 9 * * mon-fri", "0 9 * * 1,2,3,4,5"),
        ("*/20 * * * *", "0,20,40 * * * *"),
        ("0 0 * jan-mar *", "0 0 * 1-3 *"),
        ("  0\t9 * *   *  ", "0 9 * * *"),
    ])
    func equivalentSpellingsParseToEqualExpressions(_ text: String, _ equivalent: String) throws {
        #expect(try CronExpression(text) == CronExpression(equivalent))
    }

    @Test func anExpressionRemembersItsTextWithoutSurroundingWhitespace() throws {
        #expect(try CronExpression("  0 9 * * mon-fri \n").description == "0 9 * * mon-fri")
    }

    @Test func aFieldStartingWithAStarMakesTheDayRuleAnAnd() throws {
        // `*/1` and `1-31` allow the same days, but only the first counts as unrestricted.
        let and = try CronExpression("0 0 */1 * mon")
        let or = try CronExpression("0 0 1-31 * mon")
        let start = try instant("2024-05-15T10:20:30Z")
        #expect(and.nextFire(after: start, in: .gmt) == (try instant("2024-05-20T00:00:00Z")))
        #expect(or.nextFire(after: start, in: .gmt) == (try instant("2024-05-16T00:00:00Z")))
        #expect(and != or)
    }

    @Test func aRareDateIsFoundDecadesAheadButTheSearchStopsAtItsHorizon() throws {
        // February 29th that is also a Sunday: 2088, then 2128, because 2100 is not a leap year.
        let expression = try CronExpression("0 0 29 2 */7")
        let start = try instant("2089-01-01T00:00:00Z")
        #expect(expression.nextFire(after: start, in: .gmt) == (try instant("2128-02-29T00:00:00Z")))
        #expect(expression.nextFire(after: start, in: .gmt, horizonYears: 5) == nil)
    }

    @Test func instantsBeyondTheCalendarHaveNoNextFire() throws {
        let expression = try CronExpression("* * * * *")
        #expect(expression.nextFire(after: Date(timeIntervalSince1970: 1e16), in: .gmt) == nil)
        #expect(expression.nextFire(after: Date(timeIntervalSince1970: .infinity), in: .gmt) == nil)
    }

    @Test func skippedWallTimesInASpringForwardGapFireOnceAtTheEndOfTheGap() throws {
        // Given every fire of a job that runs every 15 minutes between 01:00 and 02:59 New York time
        let expression = try CronExpression("*/15 1-2 * * *")
        let newYork = try zone("America/New_York")
        var fires: [Date] = []
        var cursor = try instant("2024-03-09T12:00:00-05:00")
        while let fire = expression.nextFire(after: cursor, in: newYork),
            fire < (try instant("2024-03-10T12:00:00-04:00"))
        {
            fires.append(fire)
            cursor = fire
        }
        // Then 01:00-01:45 fire as usual and the skipped 02:00-02:45 fire once, at 03:00 EDT
        let expected = try [
            "2024-03-10T01:00:00-05:00", "2024-03-10T01:15:00-05:00", "2024-03-10T01:30:00-05:00",
            "2024-03-10T01:45:00-05:00", "2024-03-10T03:00:00-04:00",
        ].map(instant)
        #expect(fires == expected)
    }

    @Test func aFallBackOverlapFiresEachRepeatedWallTimeOnlyOnce() throws {
        let expression = try CronExpression("*/20 * * * *")
        let berlin = try zone("Europe/Berlin")
        var fires: [Date] = []
        var cursor = try instant("2024-10-27T01:50:00+02:00")
        while let fire = expression.nextFire(after: cursor, in: berlin),
            fire <= (try instant("2024-10-27T03:00:00+01:00"))
        {
            fires.append(fire)
            cursor = fire
        }
        let expected = try [
            "2024-10-27T02:00:00+02:00", "2024-10-27T02:20:00+02:00", "2024-10-27T02:40:00+02:00",
            "2024-10-27T03:00:00+01:00",
        ].map(instant)
        #expect(fires == expected)
    }
}
