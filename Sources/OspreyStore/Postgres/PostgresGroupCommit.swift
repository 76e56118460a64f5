import Logging
import PostgresNIO
import Synchronization

/// One node's write transactions on PostgreSQL, committed in groups: what arrives while a commit is in flight goes
/// into the next transaction together, each body under a savepoint of its own.
///
/// Every write that records an event holds the cluster's ledger lock until its commit's fsync is done, so without
/// grouping a cluster makes one durable write per fsync whatever its number of nodes. Grouped, one fsync (and one
/// hold of the lock) serves a whole batch; a body that throws is rolled back to its savepoint alone and its caller
/// gets its error, while the others commit. A lost connection fails the whole batch, and every caller hears it.
final class PostgresGroupCommit: Sendable {
    private let client: PostgresClient
    private let logger: Logger
    /// The most bodies one transaction takes.
    static let batchLimit = 64

    private struct Pending: Sendable {
        let body: @Sendable (PostgresWrite) async throws -> any Sendable
        /// False for a body whose only failures are the connection's (a plain ledger append): it runs without a
        /// savepoint, two round trips fewer, and should it fail otherwise the whole batch fails with it.
        let savepoint: Bool
        let continuation: CheckedContinuation<any Sendable, any Error>
    }

    private struct State: ~Copyable {
        var queue: [Pending] = []
        var flushing = false
    }

    private let state = Mutex(State())

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Runs `body` in the next group transaction and returns its value once that transaction has committed.
    /// `savepoint: false` is for bodies that fail only when the connection does (see ``Pending/savepoint``).
    func transaction<T: Sendable>(
        savepoint: Bool = true,
        _ body: @escaping @Sendable (PostgresWrite) async throws -> T
    ) async throws -> T {
        let value = try await withCheckedThrowingContinuation { continuation in
            let lead = state.withLock { state -> Bool in
                state.queue.append(
                    Pending(body: { try await body($0) }, savepoint: savepoint, continuation: continuation)
                )
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if lead { Task { await flushUntilEmpty() } }
        }
        guard let value = value as? T else { preconditionFailure("a group commit body returned another type") }
        return value
    }

    private func flushUntilEmpty() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = Array(state.queue.prefix(Self.batchLimit))
                state.queue.removeFirst(batch.count)
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await flush(batch)
        }
    }

    private func flush(_ batch: [Pending]) async {
        let logger = logger
        do {
            let results = try await client.transaction(logger: logger) { connection in
                var results: [Result<any Sendable, any Error>] = []
                let write = PostgresWrite(connection: connection, head: LedgerHeadCache())
                for (index, item) in batch.enumerated() {
                    if batch.count == 1 || !item.savepoint {
                        results.append(.success(try await item.body(write)))
                        continue
                    }
                    let head = write.head.value
                    try await connection.run("SAVEPOINT \(unescaped: "body\(index)")", logger: logger)
                    do {
                        results.append(.success(try await item.body(write)))
                        try await connection.run("RELEASE SAVEPOINT \(unescaped: "body\(index)")", logger: logger)
                    } catch {
                        if connection.isClosed || PostgresStore.isConnectionFailure(error) { throw error }
                        try await connection.run("ROLLBACK TO SAVEPOINT \(unescaped: "body\(index)")", logger: logger)
                        write.head.value = head  // what the body appended is gone
                        results.append(.failure(error))
                    }
                }
                return ResultList(results: results)
            }
            for (item, result) in zip(batch, results.results) { item.continuation.resume(with: result) }
        } catch {
            for item in batch { item.continuation.resume(throwing: error) }
        }
    }
}

/// One body's view of a group transaction: its connection, and the ledger's last seq and hash once an earlier body
/// of the same transaction has taken the ledger lock and appended (so later bodies skip the lock and the read).
struct PostgresWrite: Sendable {
    let connection: PostgresConnection
    let head: LedgerHeadCache
}

/// The ledger head a group transaction has written so far; used by one flush at a time, in order.
final class LedgerHeadCache: @unchecked Sendable {
    var value: (seq: Int, hash: String)?
}

/// The bodies' outcomes, handed out of the transaction.
private struct ResultList: @unchecked Sendable {
    // Results of Sendable values and errors: @unchecked only because `any Error` in a Result is not seen as Sendable.
    var results: [Result<any Sendable, any Error>]
}
