import Foundation
import Testing

@testable import OspreyScheduler

/// An expression and a hand-written predicate over wall-clock fields that says the same thing.
struct BruteForceCase: Sendable, CustomTestStringConvertible {
    typealias Predicate = @Sendable (_ minute: Int, _ hour: Int, _ day: Int, _ month: Int, _ weekday: Int) -> Bool
    let expression: String
    let matches: Predicate

    init(_ expression: String, _ matches: @escaping Predicate) {
        self.expression = expression
        self.matches = matches
    }

    var testDescription: String { expression }
}

let bruteForceCases: [BruteForceCase] = [
    BruteForceCase("*/7 9-17 * * 1-5") { minute, hour, _, _, weekday in
        minute % 7 == 0 && (9...17).contains(hour) && (1...5).contains(weekday)
    },
    BruteForceCase("0 0 13,29 * fri") { minute, hour, day, _, weekday in
        minute == 0 && hour == 0 && (day == 13 || day == 29 || weekday == 5)
    },
    BruteForceCase("15,45 */5 1-7 * mon") { minute, hour, day, _, weekday in
        (minute == 15 || minute == 45) && hour % 5 == 0 && ((1...7).contains(day) || weekday == 1)
    },
    BruteForceCase("30 12 */3 * mon") { minute, hour, day, _, weekday in
        minute == 30 && hour == 12 && (day - 1) % 3 == 0 && weekday == 1
    },
    BruteForceCase("5 4 * feb,mar sun") { minute, hour, _, month, weekday in
        minute == 5 && hour == 4 && (month == 2 || month == 3) && weekday == 0
    },
    BruteForceCase("59 23 28-31 2 *") { minute, hour, day, month, _ in
        minute == 59 && hour == 23 && day >= 28 && month == 2
    },
]

struct BruteForceTests {
    /// Chaining `nextFire` over a month that includes February 29th yields exactly the minutes a minute-by-minute
    /// scan accepts, in zones without daylight saving time (where every wall time occurs exactly once).
    @Test(.timeLimit(.minutes(3)), arguments: bruteForceCases, ["UTC", "Asia/Kolkata"])
    func chainedNextFiresAreExactlyTheMinutesAScanFinds(_ row: BruteForceCase, _ zoneIdentifier: String) throws {
        // Given a month-long window and a calendar in the zone
        let timeZone = try zone(zoneIdentifier)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let start = try instant("2024-02-10T00:00:00Z")
        let end = try instant("2024-03-10T00:00:00Z")

        // When scanning every minute, and when chaining nextFire
        var scanned: [Date] = []
        var minute = start.addingTimeInterval(60)
        while minute < end {
            let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: minute)
            let fields = try [parts.minute, parts.hour, parts.day, parts.month, parts.weekday].map { try #require($0) }
            if row.matches(fields[0], fields[1], fields[2], fields[3], fields[4] - 1) {
                scanned.append(minute)
            }
            minute.addTimeInterval(60)
        }
        let expression = try CronExpression(row.expression)
        var chained: [Date] = []
        var cursor = start
        while let fire = expression.nextFire(after: cursor, in: timeZone), fire < end {
            chained.append(fire)
            cursor = fire
        }

        // Then both find the same minutes
        #expect(!scanned.isEmpty)
        #expect(chained == scanned)
    }
}
