public import Foundation

/// What a scheduler does about fires that fell while it was not running; `"skip"` or `"run_once"` in config.
public enum MissedRunPolicy: String, Hashable, Sendable, CaseIterable {
    /// Drop missed fires and wait for the next fire after now.
    case skip
    /// Run once now if any fire was missed, however many were, then wait for the next fire after now.
    case runOnce = "run_once"

    /// What to do when a job's schedule resumes after downtime, for the scheduler's driver to carry out.
    public struct Resumption: Hashable, Sendable {
        /// The earliest fire that fell after the last fire and no later than now, if any did.
        public var firstMissed: Date?
        /// Whether to run the job once immediately, to make up for missed fires.
        public var runsCatchUp: Bool
        /// The next regular fire, strictly after now, or nil when the schedule will not fire again.
        public var nextFire: Date?

        public init(firstMissed: Date?, runsCatchUp: Bool, nextFire: Date?) {
            self.firstMissed = firstMissed
            self.runsCatchUp = runsCatchUp
            self.nextFire = nextFire
        }
    }

    /// Decides how a job resumes at `now`, given when it last fired (or was created, if it never fired).
    ///
    /// A fire counts as missed when it falls after `lastFire` and at or before `now`: one due exactly now is
    /// already late. Either way the regular schedule resumes from `now`, so `.every` intervals restart then.
    public func resumption(
        lastFire: Date,
        now: Date,
        spec: ScheduleSpec,
        in timeZone: TimeZone
    ) -> Resumption {
        let missed = spec.nextFire(after: lastFire, in: timeZone).flatMap { $0 <= now ? $0 : nil }
        return Resumption(
            firstMissed: missed,
            runsCatchUp: self == .runOnce && missed != nil,
            nextFire: spec.nextFire(after: now, in: timeZone)
        )
    }
}

/// Stored and sent as the bare strings `"skip"` and `"run_once"`, with an error that lists both.
extension MissedRunPolicy: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let policy = MissedRunPolicy(rawValue: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "unknown missed-run policy '\(text)'; expected 'skip' or 'run_once'"
            )
        }
        self = policy
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
