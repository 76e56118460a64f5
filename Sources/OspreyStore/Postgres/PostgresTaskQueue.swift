import Logging
public import OspreyCore
import PostgresNIO

/// A task in the cluster's queue, as a node claims it.
public struct QueuedTask: Sendable, Hashable {
    public var id: BackgroundTask.ID
    public var title: String
    public var agent: String
    public var instructions: String
    public var priority: Int
    public var provider: String?
    public var lane: String?
    /// 1 for a first run; more when a node died holding it and this claim resumes it.
    public var attempt: Int
    /// The node whose lease ran out, when this claim resumes its run.
    public var resumedFrom: String?
}

/// What a node should do about a side effect of a task (``PostgresTaskQueue/begin(effect:of:)``).
public enum EffectStart: Sendable, Hashable {
    /// Not begun before: do it, then ``PostgresTaskQueue/finish(effect:of:result:)``.
    case run
    /// Done before (by this node or one that died after), with this result: do not repeat it.
    case done(String?)
    /// Begun by a node that died before it said how it ended: not repeated, as after a local crash; the run is told.
    case interrupted(node: String)
}

/// The cluster's task queue: claims with `FOR UPDATE SKIP LOCKED`, leases kept alive by heartbeats.
///
/// A node claims the first ready task (highest priority, then oldest) and holds it for the lease; it renews the lease
/// while it works (``heartbeat(_:lease:)``). A node that dies stops renewing, and when the lease runs out the task is
/// ready again: the next claim, by any node, resumes it (`attempt` + 1, `resumed_from` names the dead node).
/// Completion is accepted only from the node holding the lease, so a task completes once. Caps (all running tasks,
/// and per provider) are counted under one advisory lock, so they hold across the cluster. Tasks of one lane (a
/// session) run one at a time, in the order they were queued.
public struct PostgresTaskQueue: Sendable {
    let client: PostgresClient
    let commits: PostgresGroupCommit
    let ledger: PostgresLedger
    let node: String
    let logger: Logger

    /// Limits on running tasks, across every node.
    public struct Caps: Sendable, Hashable {
        public var total: Int?
        public var perProvider: [String: Int]

        public init(total: Int? = nil, perProvider: [String: Int] = [:]) {
            self.total = total
            self.perProvider = perProvider
        }
    }

    /// Queues a task and records `task.created`, in one transaction.
    @discardableResult
    public func submit(
        title: String,
        agent: String = "default",
        instructions: String,
        priority: Int = 5,
        provider: String? = nil,
        lane: String? = nil
    ) async throws -> BackgroundTask.ID {
        guard (0...9).contains(priority) else { throw StoreError.invalid("priority must be 0-9") }
        let id = BackgroundTask.ID.random(prefix: "task")
        try await PostgresStore.translating {
            try await commits.transaction { write in
                let connection = write.connection
                try await connection.run(
                    """
                    INSERT INTO task_queue (id, title, agent, instructions, priority, provider, lane, status)
                    VALUES (\(id.rawValue), \(title), \(agent), \(instructions), \(priority), \(provider), \(lane), 'queued')
                    """,
                    logger: logger
                )
                _ = try await ledger.append(
                    [
                        EventDraft(
                            type: .taskCreated,
                            actor: .system,
                            task: id,
                            payload: [
                                "title": .string(title), "agent": .string(agent), "priority": .int(priority),
                                "node": .string(node),
                            ]
                        )
                    ],
                    in: write
                )
            }
        }
        return id
    }

    /// Takes the first ready task for this node, or nil when none is ready (or the caps are reached).
    ///
    /// Ready: queued, or running under a lease that has run out; not behind an earlier or running task of its lane;
    /// its provider under its cap. Records `task.started` with the node, attempt and the node it resumes from.
    public func claim(lease: Duration, caps: Caps = Caps()) async throws -> QueuedTask? {
        try await PostgresStore.translating {
            try await commits.transaction { write -> QueuedTask? in
                let connection = write.connection
                var full: [String] = []
                if caps.total != nil || !caps.perProvider.isEmpty {
                    try await connection.run("SELECT pg_advisory_xact_lock(\(PostgresStore.capsLock))", logger: logger)
                    var running = 0
                    for try await (provider, count) in try await connection.run(
                        """
                        SELECT COALESCE(provider, ''), count(*) FROM task_queue
                        WHERE status = 'running' AND lease_until > now() GROUP BY provider
                        """,
                        logger: logger
                    ).decode((String, Int).self) {
                        running += count
                        if let cap = caps.perProvider[provider], count >= cap { full.append(provider) }
                    }
                    if let total = caps.total, running >= total { return nil }
                }
                let rows = try await connection.run(
                    """
                    WITH ready AS (
                        SELECT t.id, t.node AS previous FROM task_queue t
                        WHERE (t.status = 'queued' OR (t.status = 'running' AND t.lease_until < now()))
                          AND NOT (COALESCE(t.provider, '') = ANY(\(full)))
                          AND (t.lane IS NULL OR NOT EXISTS (
                              SELECT 1 FROM task_queue o WHERE o.lane = t.lane AND o.id <> t.id
                                AND (o.status = 'running' OR (o.status = 'queued' AND o.position < t.position))))
                        ORDER BY t.priority DESC, t.position
                        LIMIT 1 FOR UPDATE OF t SKIP LOCKED)
                    UPDATE task_queue q SET status = 'running', node = \(node), attempts = q.attempts + 1,
                        lease_until = now() + make_interval(secs => \(Self.seconds(lease)))
                    FROM ready WHERE q.id = ready.id
                    RETURNING q.id, q.title, q.agent, q.instructions, q.priority, q.provider, q.lane, q.attempts,
                        ready.previous
                    """,
                    logger: logger
                ).decode((String, String, String, String, Int, String?, String?, Int, String?).self)
                var claimed: QueuedTask?
                for try await row in rows {
                    claimed = QueuedTask(
                        id: BackgroundTask.ID(row.0),
                        title: row.1,
                        agent: row.2,
                        instructions: row.3,
                        priority: row.4,
                        provider: row.5,
                        lane: row.6,
                        attempt: row.7,
                        resumedFrom: row.7 > 1 ? row.8 : nil
                    )
                }
                guard let claimed else { return nil }
                var payload: [String: JSONValue] = ["node": .string(node), "attempt": .int(claimed.attempt)]
                if let previous = claimed.resumedFrom { payload["resumed_from"] = .string(previous) }
                _ = try await ledger.append(
                    [EventDraft(type: .taskStarted, actor: .system, task: claimed.id, payload: .object(payload))],
                    in: write
                )
                return claimed
            }
        }
    }

    /// Renews this node's lease on a task; false when the lease is no longer this node's (it ran out and another
    /// node claimed the task), and the work must stop.
    public func heartbeat(_ id: BackgroundTask.ID, lease: Duration) async throws -> Bool {
        try await PostgresStore.translating {
            try await !client.rows(
                """
                UPDATE task_queue SET lease_until = now() + make_interval(secs => \(Self.seconds(lease)))
                WHERE id = \(id.rawValue) AND node = \(node) AND status = 'running' RETURNING 1
                """,
                logger: logger
            ).isEmpty
        }
    }

    /// Finishes a task this node holds, with `task.completed` (or `task.failed` with `error`), in one transaction.
    /// Throws ``StoreError/conflict(_:)`` when the lease is not this node's: the task is, or will be, finished by
    /// the node that holds it, never twice.
    public func finish(_ id: BackgroundTask.ID, result: String? = nil, error: String? = nil) async throws {
        try await PostgresStore.translating {
            try await commits.transaction { write in
                let connection = write.connection
                let finished = try await connection.run(
                    """
                    UPDATE task_queue SET status = \(error == nil ? "completed" : "failed"), result = \(result),
                        error = \(error), lease_until = NULL
                    WHERE id = \(id.rawValue) AND node = \(node) AND status = 'running' RETURNING attempts
                    """,
                    logger: logger
                ).collect()
                guard !finished.isEmpty else {
                    throw StoreError.conflict("task \(id.rawValue) is not running under \(node)'s lease")
                }
                var payload: [String: JSONValue] = ["node": .string(node)]
                if let result { payload["result"] = .string(result) }
                if let error { payload["error"] = .string(error) }
                _ = try await ledger.append(
                    [
                        EventDraft(
                            type: error == nil ? .taskCompleted : .taskFailed,
                            actor: .system,
                            task: id,
                            payload: .object(payload)
                        )
                    ],
                    in: write
                )
            }
        }
    }

    /// Says whether a side effect named `key` of a task this node holds may run: the journal that keeps a resumed
    /// task from doing twice what its dead node did. Throws ``StoreError/conflict(_:)`` when the lease is lost.
    public func begin(effect key: String, of id: BackgroundTask.ID) async throws -> EffectStart {
        try await PostgresStore.translating {
            try await commits.transaction { write -> EffectStart in
                let connection = write.connection
                let holding = try await connection.run(
                    """
                    SELECT 1 FROM task_queue WHERE id = \(id.rawValue) AND node = \(node) AND status = 'running'
                    FOR SHARE
                    """,
                    logger: logger
                ).collect()
                guard !holding.isEmpty else {
                    throw StoreError.conflict("task \(id.rawValue) is not running under \(node)'s lease")
                }
                let inserted = try await connection.run(
                    """
                    INSERT INTO task_effects (task, key, node, state) VALUES (\(id.rawValue), \(key), \(node), 'started')
                    ON CONFLICT DO NOTHING RETURNING 1
                    """,
                    logger: logger
                ).collect()
                if !inserted.isEmpty { return .run }
                for try await (state, owner, result) in try await connection.run(
                    "SELECT state, node, result FROM task_effects WHERE task = \(id.rawValue) AND key = \(key)",
                    logger: logger
                ).decode((String, String, String?).self) {
                    return state == "done" ? .done(result) : .interrupted(node: owner)
                }
                throw StoreError.conflict("effect \(key) of task \(id.rawValue) vanished")
            }
        }
    }

    /// Records how a side effect begun with ``begin(effect:of:)`` ended.
    public func finish(effect key: String, of id: BackgroundTask.ID, result: String? = nil) async throws {
        try await PostgresStore.translating {
            try await client.rows(
                """
                UPDATE task_effects SET state = 'done', result = \(result)
                WHERE task = \(id.rawValue) AND key = \(key) AND node = \(node)
                """,
                logger: logger
            )
        }
    }

    /// How many tasks are in each status.
    public func counts() async throws -> [String: Int] {
        try await PostgresStore.translating {
            var counts: [String: Int] = [:]
            for row in try await client.rows("SELECT status, count(*) FROM task_queue GROUP BY status", logger: logger)
            {
                let (status, count) = try row.decode((String, Int).self)
                counts[status] = count
            }
            return counts
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
