public import GRDB

extension Store {
    /// Runs `body` in one immediate transaction on the writer and returns what it returns.
    ///
    /// The transaction takes the write lock at `BEGIN`, so a change and the events that record it commit together
    /// and no other writer interleaves. The result must be `Sendable` (never a `Row`): GRDB's async write requires
    /// it, and a non-Sendable result would silently select the blocking overload.
    public func transaction<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.transaction(body)
    }
}

extension DatabaseWriter {
    /// ``Store/transaction(_:)`` for the repositories, which hold the writer rather than the store.
    func transaction<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            // `inTransaction` returned without throwing, so `body` ran to its end and set `result`.
            return result!
        }
    }
}
