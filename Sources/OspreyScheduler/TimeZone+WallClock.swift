import Foundation
import OspreyCore

// Wall-clock arithmetic in whole seconds. A "wall second" counts seconds since 1970-01-01T00:00 as if local time
// were UTC, so `wall = instant + offset(at: instant)`.
extension TimeZone {
    /// The offset from UTC, in seconds, in force at `instant` (seconds since the epoch).
    func offset(atInstant instant: Int) -> Int {
        secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// The wall second that `instant` shows on a clock in this zone.
    func wallSecond(atInstant instant: Int) -> Int {
        instant + offset(atInstant: instant)
    }

    /// The instant at which clocks in this zone show `wall`, resolved the way cron fires jobs.
    ///
    /// - A wall time that occurs once maps to that instant.
    /// - A wall time that occurs twice (a fall-back overlap) maps to its first occurrence.
    /// - A wall time that never occurs (a spring-forward gap) maps to the end of the gap: the first instant after
    ///   the clocks jump, which shows the first wall time after the gap.
    ///
    /// Every wall time maps to an instant, and later wall times never map to earlier instants.
    func instant(forWallSecond wall: Int) -> Int {
        // An instant showing `wall` lies within ±14 hours of it, so the offsets a day either side cover
        // every offset that can apply, even across a transition.
        let offsets = [
            offset(atInstant: wall - CivilDate.secondsPerDay),
            offset(atInstant: wall),
            offset(atInstant: wall + CivilDate.secondsPerDay),
        ]
        let occurrences = offsets.map { wall - $0 }.filter { wallSecond(atInstant: $0) == wall }
        if let first = occurrences.min() {
            return first
        }
        // A gap. Before the jump the clock shows less than `wall`, after it more; find the jump by bisection.
        var before = wall - (offsets.max() ?? offsets[1])
        var after = wall - (offsets.min() ?? offsets[1])
        while after - before > 1 {
            let middle = before + (after - before) / 2
            if wallSecond(atInstant: middle) < wall {
                before = middle
            } else {
                after = middle
            }
        }
        return after
    }
}
