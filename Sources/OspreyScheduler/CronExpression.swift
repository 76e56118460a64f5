public import Foundation
import OspreyCore

/// A five-field cron expression (minute hour day-of-month month day-of-week), parsed into a pure value.
///
/// **Syntax.** A field is a comma-separated list of items. An item is `*`, a value (`5`) or a range (`1-5`), each
/// optionally with a step (`*/15`, `10-50/10`); a value with a step runs to the end of the field (`5/20` is
/// `5-59/20`). Months may be named `jan`...`dec` and days `sun`...`sat`, in any case and in ranges (`mon-fri`).
/// Day-of-week 0 and 7 are both Sunday. The macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
/// (`@midnight`) and `@hourly` stand for `0 0 1 1 *`, `0 0 1 * *`, `0 0 * * 0`, `0 0 * * *` and `0 * * * *`.
///
/// **Day rule (Vixie cron).** When day-of-month and day-of-week are both restricted, a day matches if *either*
/// matches: `0 0 13 * fri` fires on every 13th and on every Friday. As in Vixie cron and cronie, a field that
/// starts with `*` counts as unrestricted, so both must match in `0 0 */2 * mon` (odd-numbered days that are
/// Mondays).
///
/// **Time zones and daylight saving time.** Fields match the wall-clock time in the zone passed to
/// ``nextFire(after:in:)``.
/// - Spring forward: a wall time the clocks skip fires once, at the end of the gap, the first instant after the
///   jump (cronie runs skipped fixed-time jobs then too). `30 2 * * *` fires at 03:00 EDT on the day New York
///   springs forward; the several skipped times of `*/15 2 * * *` still fire only once.
/// - Fall back: a wall time the clocks repeat fires only at its first occurrence. `30 1 * * *` fires at 01:30 EDT
///   and not again at 01:30 EST. This holds for every expression, so `*/15 * * * *` pauses for the repeated hour.
///
/// **Termination.** `init` rejects expressions whose days never occur (`0 0 30 2 *`). The search walks whole days,
/// skipping months and days that cannot match, and stops after 400 years, the period in which the Gregorian
/// calendar repeats, so any expression that `init` accepts fires within it.
public struct CronExpression: Hashable, Sendable, CustomStringConvertible {
    /// One of the five fields of a cron expression, named as error messages name it.
    public enum Field: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        case minute
        case hour
        case dayOfMonth = "day-of-month"
        case month
        case dayOfWeek = "day-of-week"

        public var description: String { rawValue }
    }

    /// The text the expression was parsed from, without surrounding whitespace.
    public let source: String
    let minutes: ValueSet
    let hours: ValueSet
    let daysOfMonth: ValueSet
    let months: ValueSet
    /// Days of the week, 0 (Sunday) through 6 (Saturday); a 7 in the text is stored as 0.
    let daysOfWeek: ValueSet
    /// Whether the day-of-month field starts with `*`, which makes the day rule an AND (Vixie's `DOM_STAR`).
    let dayOfMonthIsWildcard: Bool
    /// Whether the day-of-week field starts with `*`, which makes the day rule an AND (Vixie's `DOW_STAR`).
    let dayOfWeekIsWildcard: Bool

    /// How far ahead ``nextFire(after:in:)`` searches: one full cycle of the Gregorian calendar.
    static let searchHorizonYears = 400

    init(
        source: String,
        minutes: ValueSet,
        hours: ValueSet,
        daysOfMonth: ValueSet,
        months: ValueSet,
        daysOfWeek: ValueSet,
        dayOfMonthIsWildcard: Bool,
        dayOfWeekIsWildcard: Bool
    ) {
        self.source = source
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.months = months
        self.daysOfWeek = daysOfWeek
        self.dayOfMonthIsWildcard = dayOfMonthIsWildcard
        self.dayOfWeekIsWildcard = dayOfWeekIsWildcard
    }

    public var description: String { source }

    /// Two expressions are equal when they fire at the same times, however they are written.
    public static func == (lhs: CronExpression, rhs: CronExpression) -> Bool {
        lhs.minutes == rhs.minutes && lhs.hours == rhs.hours && lhs.daysOfMonth == rhs.daysOfMonth
            && lhs.months == rhs.months && lhs.daysOfWeek == rhs.daysOfWeek
            && lhs.dayOfMonthIsWildcard == rhs.dayOfMonthIsWildcard
            && lhs.dayOfWeekIsWildcard == rhs.dayOfWeekIsWildcard
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(minutes)
        hasher.combine(hours)
        hasher.combine(daysOfMonth)
        hasher.combine(months)
        hasher.combine(daysOfWeek)
        hasher.combine(dayOfMonthIsWildcard)
        hasher.combine(dayOfWeekIsWildcard)
    }

    /// The first minute strictly after `date` whose wall-clock time in `timeZone` matches, or nil if none does
    /// within 400 years.
    ///
    /// Daylight-saving gaps and overlaps resolve as the type's documentation describes.
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        nextFire(after: date, in: timeZone, horizonYears: Self.searchHorizonYears)
    }

    /// ``nextFire(after:in:)`` with the search cut off after `horizonYears` calendar years.
    func nextFire(after date: Date, in timeZone: TimeZone, horizonYears: Int) -> Date? {
        let after = date.timeIntervalSince1970
        // Beyond about ±30 million years the seconds no longer fit the integer arithmetic below.
        guard after.isFinite, abs(after) < 1e15 else { return nil }
        let wall = timeZone.wallSecond(atInstant: Int(after.rounded(.down)))
        let (wallDay, wallSecondOfDay) = wall.quotientAndFloorRemainder(dividingBy: CivilDate.secondsPerDay)
        var day = CivilDate(daysSinceEpoch: wallDay)
        // Wall times up to and including the current minute map to instants no later than `date`.
        var firstMinute = wallSecondOfDay / 60 + 1
        let lastYear = day.year + horizonYears
        while day.year <= lastYear {
            if !months.contains(day.month) {
                day = day.firstOfNextMonth
            } else {
                if matchesDay(day), let fire = firstFire(on: day, fromMinute: firstMinute, after: after, timeZone) {
                    return fire
                }
                day = day.next
            }
            firstMinute = 0
        }
        return nil
    }

    /// Whether `day` passes the day-of-month and day-of-week fields under the Vixie rule.
    func matchesDay(_ day: CivilDate) -> Bool {
        let dayOfMonth = daysOfMonth.contains(day.day)
        let dayOfWeek = daysOfWeek.contains(day.weekday)
        return dayOfMonthIsWildcard || dayOfWeekIsWildcard ? dayOfMonth && dayOfWeek : dayOfMonth || dayOfWeek
    }

    /// The earliest matching time of day on `day`, from minute-of-day `firstMinute` on, that falls after `after`.
    private func firstFire(
        on day: CivilDate,
        fromMinute firstMinute: Int,
        after: TimeInterval,
        _ timeZone: TimeZone
    ) -> Date? {
        let midnight = day.daysSinceEpoch * CivilDate.secondsPerDay
        for hour in hours.values where hour >= firstMinute / 60 {
            for minute in minutes.values where hour * 60 + minute >= firstMinute {
                let instant = timeZone.instant(forWallSecond: midnight + hour * 3600 + minute * 60)
                // A skipped or repeated wall time can map to `after` or before it; keep looking.
                if TimeInterval(instant) > after {
                    return Date(timeIntervalSince1970: TimeInterval(instant))
                }
            }
        }
        return nil
    }
}
