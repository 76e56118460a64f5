import Foundation
import Testing

@testable import OspreyScheduler

struct ScheduleSpecTests {
    @Test(arguments: [
        ("@every 45s", Duration.seconds(45)),
        ("@every 1s", .seconds(1)),
        ("@every 10m", .seconds(600)),
        ("@every 90m", .seconds(5400)),
        ("@every 1h30m", .seconds(5400)),
        ("@every 2h", .seconds(7200)),
        ("@every 1h0m30s", .seconds(3630)),
        ("  @EVERY   15m ", .seconds(900)),
    ])
    func everyParsesHoursMinutesAndSeconds(_ text: String, _ interval: Duration) throws {
        #expect(try ScheduleSpec(parsing: text) == .every(interval))
    }

    @Test(arguments: [
        ("@at 2026-12-24T18:00:00Z", "2026-12-24T18:00:00Z"),
        ("@at 2026-12-24t18:00:00z", "2026-12-24T18:00:00Z"),
        ("@at 2026-12-24 18:00:00Z", "2026-12-24T18:00:00Z"),
        ("@at 2026-12-24T18:00:00+05:30", "2026-12-24T12:30:00Z"),
        ("@at 2026-12-24T18:00:00-08:00", "2026-12-25T02:00:00Z"),
        ("@at 2028-02-29T00:00:00+00:00", "2028-02-29T00:00:00Z"),
    ])
    func atParsesAnRFC3339TimestampWithItsOffset(_ text: String, _ expected: String) throws {
        #expect(try ScheduleSpec(parsing: text) == .at(try instant(expected)))
    }

    @Test func atKeepsFractionalSeconds() throws {
        let spec = try ScheduleSpec(parsing: "@at 2026-12-24T18:00:00.25Z")
        let date = try instant("2026-12-24T18:00:00Z").addingTimeInterval(0.25)
        #expect(spec == .at(date))
    }

    @Test(arguments: ["0 9 * * mon-fri", "@daily", "*/5 * * * *"])
    func anythingElseIsACronExpression(_ text: String) throws {
        #expect(try ScheduleSpec(parsing: text) == .cron(try CronExpression(text)))
    }

    @Test(arguments: [
        ("@every 10m", "2026-01-01T10:00:00Z", "2026-01-01T10:10:00Z"),
        ("@every 1h30m", "2026-01-01T23:00:00Z", "2026-01-02T00:30:00Z"),
        ("@every 45s", "2026-01-01T10:00:30Z", "2026-01-01T10:01:15Z"),
        ("@at 2026-12-24T18:00:00Z", "2026-12-24T17:59:59Z", "2026-12-24T18:00:00Z"),
        ("0 9 * * *", "2026-01-01T10:00:00+01:00", "2026-01-02T09:00:00+01:00"),
    ])
    func nextFireFollowsTheSpec(_ text: String, _ after: String, _ expected: String) throws {
        let spec = try ScheduleSpec(parsing: text)
        #expect(spec.nextFire(after: try instant(after), in: try zone("Europe/Berlin")) == (try instant(expected)))
    }

    @Test(arguments: ["2026-12-24T18:00:00Z", "2026-12-24T18:00:01Z", "2027-01-01T00:00:00Z"])
    func aOneShotHasNoNextFireOnceItsTimeHasCome(_ after: String) throws {
        let spec = try ScheduleSpec(parsing: "@at 2026-12-24T18:00:00Z")
        #expect(spec.nextFire(after: try instant(after), in: .gmt) == nil)
    }

    @Test(arguments: [
        "0 9 * * mon-fri", "@hourly", "@every 45s", "@every 10m", "@every 1h30m", "@every 2h0m5s",
        "@at 2026-12-24T18:00:00Z", "@at 1969-07-20T20:17:40Z",
    ])
    func theDescriptionParsesBackToTheSameSchedule(_ text: String) throws {
        let spec = try ScheduleSpec(parsing: text)
        #expect(try ScheduleSpec(parsing: spec.description) == spec)
    }

    @Test(arguments: [Duration.zero, .seconds(-5)])
    func anIntervalThatIsNotPositiveNeverFires(_ interval: Duration) throws {
        #expect(ScheduleSpec.every(interval).nextFire(after: try instant("2026-01-01T00:00:00Z"), in: .gmt) == nil)
    }

    @Test func aOneShotIsDescribedInUTC() throws {
        let spec = try ScheduleSpec(parsing: "@at 2026-12-24T18:00:00.5+05:30")
        #expect(spec.description == "@at 2026-12-24T12:30:00.500Z")
    }
}
