import Synchronization

/// The times of each sender's messages of the last minute, for `rate_per_minute`.
///
/// Every sender that writes to the bot is counted, strangers included, so the table is swept of senders with
/// nothing in the last minute whenever it has doubled since the last sweep: a spray of new sender ids costs memory
/// for a minute, not for ever, and each message stays O(1) amortized.
final class SenderRates: Sendable {
    enum Admission: Equatable {
        case admitted
        /// Over the limit; `first` for the first refusal of the burst.
        case refused(first: Bool)
    }

    struct State {
        var times: [String: [ContinuousClock.Instant]] = [:]
        var sweepAt = SenderRates.smallestSweep
    }

    static let smallestSweep = 1024
    static let window: Duration = .seconds(60)
    private let state = Mutex(State())

    /// Counts a message of `key` against its last minute.
    func admit(_ key: String, limit: Int, now: ContinuousClock.Instant = .now) -> Admission {
        state.withLock { state in
            if state.times.count >= state.sweepAt {
                state.times = state.times.filter { _, times in times.contains { now - $0 < Self.window } }
                state.sweepAt = max(Self.smallestSweep, state.times.count * 2)
            }
            var times = (state.times[key] ?? []).filter { now - $0 < Self.window }
            defer { state.times[key] = times }
            guard times.count < limit else {
                // One refusal is counted too (past the limit), so only the first of a burst says so.
                let first = times.count == limit
                if first { times.append(now) }
                return .refused(first: first)
            }
            times.append(now)
            return .admitted
        }
    }

    /// How many senders are in the table.
    var tracked: Int { state.withLock { $0.times.count } }
}
