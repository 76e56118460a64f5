/// Runs `work`, and gives up on it after `limit`: the value, or nil when the time ran out first (`work` is then
/// cancelled, and this returns once it has ended).
///
/// For an exchange whose own time limit does not cover all of it: AsyncHTTPClient's deadline ends when an answer's
/// head arrives, so a peer that stalls within the body would otherwise be waited on for ever.
public func withTimeLimit<T: Sendable>(
    _ limit: Duration,
    _ work: @escaping @Sendable () async throws -> T
) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}
