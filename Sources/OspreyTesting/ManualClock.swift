import Synchronization

/// A clock that moves only when a test advances it: time-dependent code (back-offs, heartbeats) is tested by
/// advancing the clock instead of sleeping on the wall clock.
public final class ManualClock: Clock, Sendable {
    public struct Instant: InstantProtocol {
        public var offset: Duration

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var nextID = 0
        var sleepers: [Int: (deadline: Instant, wake: CheckedContinuation<Void, Never>)] = [:]
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    public init() {}

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// Returns once the clock has been advanced to `deadline` (at once if it already has), or throws
    /// `CancellationError` as soon as the sleeping task is cancelled, like `Task.sleep`.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if deadline <= state.now || state.cancelled.contains(id) { return true }
                    state.sleepers[id] = (deadline, continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { state in
                state.cancelled.insert(id)
                return state.sleepers.removeValue(forKey: id)
            }
            sleeper?.wake.resume()
        }
        state.withLock { _ = $0.cancelled.remove(id) }
        try Task.checkCancellation()
    }

    /// How many tasks are sleeping on this clock now: a test waits for the code under test to sleep before it
    /// advances the clock, or the advance could come first and the sleep would never end.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    /// Returns once at least `count` tasks sleep on this clock (polling every millisecond; the clock is for tests).
    ///
    /// Throws once `timeout` of wall time has passed without them: code that ended, or never slept, fails the test
    /// instead of holding the suite forever.
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while sleepers < count {
            guard ContinuousClock.now < deadline else {
                throw ManualClockError("\(sleepers) of \(count) sleepers on the clock after \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Moves the clock forward and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let due = state.withLock { state in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return due.values.map(\.wake)
        }
        for wake in due { wake.resume() }
    }
}

/// A wait on a ``ManualClock`` that did not end.
public struct ManualClockError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
