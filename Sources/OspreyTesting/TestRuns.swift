public import OspreyScheduler
public import OspreyStore
public import Testing

/// Helpers for tests that run the supervisor and scheduler and wait on what they do.
public enum TestRuns {
    /// Runs the supervisor for the duration of `body`.
    public static func running<T: Sendable>(_ supervisor: Supervisor, _ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await supervisor.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// Polls `condition` every 10 ms for up to `timeout` (10 s); records an issue, at the caller's line, if it never
    /// holds.
    public static func waitUntil(
        timeout: Duration = .seconds(10),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        for _ in 0..<Int(timeout.components.seconds * 100) {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("condition not met in \(timeout)", sourceLocation: sourceLocation)
    }

    /// A scheduler that knows one agent, "default".
    public static func scheduler(_ store: Store) -> Scheduler { Scheduler(store: store) { $0 == "default" } }
}
