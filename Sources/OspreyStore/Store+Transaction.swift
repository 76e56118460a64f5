extension Store {
    /// Runs `body` in one immediate transaction on the writer and returns what it returns, after the commit.
    ///
    /// The transaction takes the write lock at `BEGIN`, so a change and the events that record it commit together
    /// and no other writer interleaves. Bodies that wait for the writer at the same time share one commit (one
    /// fsync), each in its own savepoint: see ``GroupCommit``. The result must be `Sendable` (never a `Row`).
    @discardableResult
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await commits.transaction(body)
    }

    /// Committed write groups and the transactions they held since the store opened (see ``GroupCommit``).
    public var commitStatistics: GroupCommit.Statistics { commits.statistics }

    /// How many write transactions wait for the writer right now.
    public var writesWaiting: Int { commits.waiting }
}
