import Foundation
import Synchronization

/// Request deadlines: one watchdog task per client sleeps until the earliest deadline and times out what has
/// passed it. A timer task per request would cost a task start and a cancellation (thread wake-ups) on every call,
/// more than a quick call itself.
extension MCPClient {
    struct Deadline {
        var at: ContinuousClock.Instant
        var method: String
        var timeout: Duration
    }

    /// Registers a request's deadline; the watchdog is started, or started again to wake earlier, when needed.
    func arm(_ id: Int, _ deadline: Deadline) {
        let replaced = state.withLock { state -> Task<Void, Never>? in
            state.deadlines[id] = deadline
            if let watchdog = state.watchdog, watchdog.wake <= deadline.at { return nil }
            state.watchdogGenerations += 1
            let generation = state.watchdogGenerations
            let old = state.watchdog?.task
            let task = Task<Void, Never> { [weak self] in await self?.watch(generation) }
            state.watchdog = (task, generation, deadline.at)
            return old
        }
        replaced?.cancel()
    }

    /// Times out the requests whose deadline passed, then sleeps until the next one; ends when none is left (or a
    /// newer watchdog replaced it).
    func watch(_ generation: Int) async {
        while true {
            let now = ContinuousClock.now
            let (expired, next) = state.withLock { state -> ([(Int, Deadline)], ContinuousClock.Instant?) in
                guard state.watchdog?.generation == generation else { return ([], nil) }
                let expired = state.deadlines.filter { $0.value.at <= now }
                for (id, _) in expired { state.deadlines[id] = nil }
                let next = state.deadlines.values.map(\.at).min()
                if let next { state.watchdog?.wake = next } else { state.watchdog = nil }
                return (Array(expired), next)
            }
            for (id, deadline) in expired {
                abandon(
                    id,
                    MCPError.timedOut(server: configuration.name, method: deadline.method, after: deadline.timeout),
                    tellServer: "timed out"
                )
            }
            guard let next else { return }
            do {
                try await Task.sleep(until: next, clock: .continuous)
            } catch {
                return  // replaced, or the client stopped
            }
        }
    }
}
