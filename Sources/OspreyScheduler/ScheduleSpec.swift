public import Foundation
import OspreyCore

/// What a scheduled job fires on: a cron expression, a fixed interval, or a single instant.
///
/// Written as text in configuration: `0 9 * * mon-fri` (or a macro such as `@daily`), `@every 1h30m`, or
/// `@at 2026-12-24T18:00:00Z`. See ``init(parsing:)``.
public enum ScheduleSpec: Hashable, Sendable, CustomStringConvertible {
    /// Fires at the wall-clock times a cron expression matches.
    case cron(CronExpression)
    /// Fires every interval, counted from the previous fire.
    case every(Duration)
    /// Fires once, at an instant.
    case at(Date)

    /// The first fire strictly after `date`, or nil if the schedule will not fire again.
    ///
    /// `.every` fires one interval after `date` (the scheduler passes the previous fire, or the start time, so the
    /// interval is measured from there) and ignores `timeZone`, as does `.at`. An interval that is not positive, which
    /// only direct construction can produce, never fires: it could not fire strictly after `date`.
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        switch self {
        case .cron(let expression):
            expression.nextFire(after: date, in: timeZone)
        case .every(let interval):
            interval > .zero ? date.addingTimeInterval(interval.timeInterval) : nil
        case .at(let instant):
            instant > date ? instant : nil
        }
    }

    /// The schedule written as ``init(parsing:)`` reads it; `.at` is written in UTC.
    ///
    /// An `.every` interval with a fraction of a second, which only direct construction can produce, is written as
    /// seconds with a fraction (`@every 1.5s`), which parsing rejects.
    public var description: String {
        switch self {
        case .cron(let expression):
            expression.description
        case .every(let interval):
            "@every \(Self.format(interval))"
        case .at(let instant):
            "@at \(Self.format(instant))"
        }
    }
}
