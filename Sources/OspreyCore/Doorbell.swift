import Synchronization

/// Wakes a loop that sleeps until it has work, instead of polling: whoever gives it work rings, the loop waits.
///
/// A ring while the loop is busy is kept (one, however many came) and ends its next wait at once, so no work is
/// missed between a pass and the wait after it. One loop waits on a bell at a time.
public final class Doorbell: Sendable {
    private let state = Mutex<(rung: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    public func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns at the next ring (at once for one kept since the last wait), or when the task is cancelled.
    public func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    // Cancelled before it waited: return, and leave a ring for the next wait.
                    if Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// Waits for a ring, or `duration` of `sleep` (a clock's, injected so tests advance time), whichever comes
    /// first. Throws `CancellationError` when the task is cancelled.
    public func wait(
        atMost duration: Duration,
        sleep: @escaping @Sendable (Duration) async throws -> Void
    )
        async throws
    {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await sleep(duration) }
            group.addTask { await self.wait() }
            _ = await group.next()
            group.cancelAll()
        }
        try Task.checkCancellation()
    }
}
