import Logging
public import OspreyCore
import PostgresNIO

/// Leadership and exactly-once schedule ticks across the nodes of a cluster.
///
/// A leader holds a session-level advisory lock on a connection of its own; PostgreSQL releases it when that
/// connection dies, however the node died, and another node's next try takes it. Leadership alone cannot promise
/// once: a leader cut off from the database may fire once more before it notices. So every firing also claims its
/// tick in `schedule_ticks` (schedule and tick as the primary key) in the transaction that records its
/// `schedule.fired` event: a second claim of the same tick, from any node, finds the row and fires nothing.
public struct PostgresTicks: Sendable {
    let commits: PostgresGroupCommit
    let ledger: PostgresLedger
    let target: PostgresTarget
    let node: String
    let logger: Logger

    /// Claims `tick` (any text that names one firing, e.g. the minute it is due) of `schedule` for this node and
    /// records `schedule.fired` with `payload`, in one transaction. Returns the event, or nil when the tick was
    /// already claimed (by any node).
    @discardableResult
    public func fire(schedule: String, tick: String, payload: JSONValue = [:]) async throws -> Event? {
        try await PostgresStore.translating {
            try await commits.transaction { write -> Event? in
                let connection = write.connection
                let claimed = try await connection.run(
                    """
                    INSERT INTO schedule_ticks (schedule, tick, node, seq) VALUES (\(schedule), \(tick), \(node), 0)
                    ON CONFLICT DO NOTHING RETURNING 1
                    """,
                    logger: logger
                ).collect()
                guard !claimed.isEmpty else { return nil }
                var fields = payload.objectValue ?? [:]
                fields["schedule"] = .string(schedule)
                fields["tick"] = .string(tick)
                fields["node"] = .string(node)
                let event = try await ledger.append(
                    [EventDraft(type: .scheduleFired, actor: .system, payload: .object(fields))],
                    in: write
                )[0]
                try await connection.run(
                    "UPDATE schedule_ticks SET seq = \(event.seq) WHERE schedule = \(schedule) AND tick = \(tick)",
                    logger: logger
                )
                return event
            }
        }
    }

    /// Runs `lead` while this node holds the leadership of `role`, and tries again every `retry` while another node
    /// holds it, until cancelled.
    ///
    /// The lock's connection is asked `SELECT 1` every `retry`; when it fails the leadership may already be someone
    /// else's, so `lead` is cancelled and this node campaigns again. Each election is a `cluster.leader` event.
    public func campaign(
        _ role: String,
        retry: Duration = .seconds(1),
        lead: @escaping @Sendable () async throws -> Void
    ) async throws {
        let key = Self.lockKey(role)
        while true {
            try Task.checkCancellation()
            do {
                try await target.withOwnConnection(node: node, logger: logger) { connection in
                    guard try await holds(key, on: connection) else { return }
                    try await ledger.append(
                        EventDraft(
                            type: .clusterLeader,
                            actor: .system,
                            payload: ["role": .string(role), "node": .string(node)]
                        )
                    )
                    try await leading(on: connection, retry: retry, lead: lead)
                }
            } catch  where !Task.isCancelled && !(error is CancellationError) {
                logger.warning("campaign for \(role) on \(node): \(error)")
            }
            try await Task.sleep(for: retry)
        }
    }

    private func holds(_ key: Int64, on connection: PostgresConnection) async throws -> Bool {
        for try await held in try await connection.run("SELECT pg_try_advisory_lock(\(key))", logger: logger)
            .decode(Bool.self)
        {
            return held
        }
        return false
    }

    /// Runs `lead` beside a watch on the lock's connection; returns when the connection fails (or `lead` ends).
    private func leading(
        on connection: PostgresConnection,
        retry: Duration,
        lead: @escaping @Sendable () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await lead() }
            group.addTask {
                // A query on a connection the server has closed may never answer: look at the channel first.
                while !connection.isClosed {
                    try await Task.sleep(for: retry)
                    if connection.isClosed { break }
                    try await connection.run("SELECT 1", logger: logger)
                }
                logger.warning("\(node) lost the connection that holds its leadership")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// A role's advisory lock key: the first 8 bytes of its SHA-256, so every node derives the same one.
    static func lockKey(_ role: String) -> Int64 {
        let digest = Event.sha256Hex("osprey-leader:" + role)
        return Int64(bitPattern: UInt64(digest.prefix(16), radix: 16) ?? 0)
    }
}
