public import Foundation
public import OspreyCore

/// Tasks: submitted, started, finished; every change commits with its `task.*` event.
public struct Tasks: Sendable {
    let writer: GroupCommit
    let ledger: Ledger
    /// The gateway this store belongs to when several share a PostgreSQL database ("" on SQLite): the node a
    /// task it starts is claimed for.
    public let node: String

    /// What a new task is.
    public struct Draft: Hashable, Sendable {
        public var title: String
        public var instructions: String
        public var agent: String
        public var tools: [String]?
        public var priority: Int
        public var parent: TaskRecord.ID?
        public var schedule: ScheduleRecord.ID?
        /// Most tokens the task (with its sub-tasks) may spend; 0 for no limit.
        public var maxTokens: Int
        /// Most dollars the task (with its sub-tasks) may spend; 0 for no limit.
        public var maxCostUSD: Double
        /// Submitted by a run with untrusted content in its context; a tainted parent taints the task anyway.
        public var tainted = false
        /// The workflow skill the task runs; `instructions` are then its inputs as a JSON object.
        public var workflow: String?
        /// The conversation the task belongs to: 1-128 letters, digits, '_', '-', '.' or ':'.
        public var context: String?
        /// The persona the task's run acts in.
        public var persona: String?
        /// The seed a spec-first run starts from; `instructions` are then its settings as a JSON object.
        public var seed: SeedRecord.ID?
        /// The directory the task's tools act in instead of the home's workspace (set by Osprey, never a client).
        public var workspace: String?

        public init(
            title: String,
            instructions: String,
            agent: String = "default",
            tools: [String]? = nil,
            priority: Int = 5,
            parent: TaskRecord.ID? = nil,
            schedule: ScheduleRecord.ID? = nil,
            maxTokens: Int = 0,
            maxCostUSD: Double = 0,
            tainted: Bool = false,
            workflow: String? = nil
        ) {
            self.title = title
            self.instructions = instructions
            self.agent = agent
            self.tools = tools
            self.priority = priority
            self.parent = parent
            self.schedule = schedule
            self.maxTokens = maxTokens
            self.maxCostUSD = maxCostUSD
            self.tainted = tainted
            self.workflow = workflow
        }
    }

    /// Deepest chain of delegation (a task's sub-task's sub-task ...).
    public static let maxDepth = 3

    /// Stores a queued task with its own session, after checking it: non-empty, priority 0-9, a parent that
    /// exists, a delegation depth within `maxDepth`, no cycle.
    public func submit(_ draft: Draft, actor: Principal, maxDepth: Int = Tasks.maxDepth) async throws -> TaskRecord {
        let title = try Self.validate(draft)
        return try await writer.transaction { db in
            try insert(draft, title: title, actor: actor, maxDepth: maxDepth, in: db)
        }
    }

    /// The draft's trimmed title, after checking every field that needs no database.
    static func validate(_ draft: Draft) throws -> String {
        let title = draft.title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.count <= 200 else { throw StoreError.invalid("title must be 1-200 characters") }
        guard !draft.instructions.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
            draft.instructions.utf8.count <= 64 * 1024
        else { throw StoreError.invalid("instructions must be 1 byte to 64 KiB") }
        guard (0...9).contains(draft.priority) else {
            throw StoreError.invalid("priority must be an integer in 0...9 (9 runs first)")
        }
        guard draft.maxTokens >= 0, draft.maxCostUSD >= 0, draft.maxCostUSD.isFinite else {
            throw StoreError.invalid("max_tokens and max_cost_usd must be 0 (no limit) or more")
        }
        guard draft.agent.range(of: #"^[A-Za-z0-9_.-]{1,64}$"#, options: .regularExpression) != nil else {
            throw StoreError.invalid("agent must be 1-64 letters, digits, '_', '-' or '.'")
        }
        if let context = draft.context {
            guard context.range(of: #"^[A-Za-z0-9_.:-]{1,128}$"#, options: .regularExpression) != nil else {
                throw StoreError.invalid("context must be 1-128 letters, digits, '_', '-', '.' or ':'")
            }
        }
        return title
    }

    /// Stores a checked draft inside a transaction the caller holds, with its `task.created` event.
    func insert(
        _ draft: Draft,
        title: String,
        actor: Principal,
        maxDepth: Int,
        in db: SQLConnection
    ) throws -> TaskRecord {
        let id = TaskRecord.ID.random(prefix: "tsk")
        let session = Session.ID.random(prefix: "ses")
        let now = WireFormat.timestamp(Date())
        var depth = 0
        var tainted = draft.tainted
        if let parent = draft.parent {
            // Taint follows delegation: a tainted parent's sub-task is tainted, whoever submits it.
            if try db.value(Int.self, "SELECT tainted FROM tasks WHERE id = ?", [parent.rawValue])
                == 1
            {
                tainted = true
            }
            // Walk up the chain: its length is the depth, and meeting ourselves would be a cycle.
            var cursor: TaskRecord.ID? = parent
            var seen: Set<String> = [id.rawValue]
            while let current = cursor {
                guard seen.insert(current.rawValue).inserted else {
                    throw StoreError.invalid("task delegation would form a cycle")
                }
                let row = try db.row("SELECT parent FROM tasks WHERE id = ?", [current.rawValue])
                guard let row else { throw StoreError.notFound(kind: "task", id: current.rawValue) }
                depth += 1
                cursor = (row["parent"] as String?).map { TaskRecord.ID($0) }
            }
            guard depth <= maxDepth else {
                throw StoreError.invalid("delegation depth \(depth) exceeds the limit of \(maxDepth)")
            }
        }
        try db.execute(
            "INSERT INTO sessions (id, agent, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            [session.rawValue, draft.agent, "task: " + title, now, now]
        )
        try db.execute(
            """
            INSERT INTO tasks (id, title, instructions, agent, tools, priority, status, parent, depth,
                session, schedule, created_at, max_tokens, max_cost_usd, tainted, workflow, context, persona, seed, workspace)
            VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                id.rawValue, title, draft.instructions, draft.agent,
                draft.tools.map { JSONValue.array($0.map(JSONValue.string)).canonicalJSON }, draft.priority,
                draft.parent?.rawValue, depth, session.rawValue, draft.schedule?.rawValue, now, draft.maxTokens,
                draft.maxCostUSD, tainted ? 1 : 0, draft.workflow, draft.context, draft.persona,
                draft.seed?.rawValue, draft.workspace,
            ]
        )
        let created = try Self.fetch(id, in: db)
        _ = try ledger.append(
            [
                EventDraft(
                    type: .taskCreated,
                    actor: actor,
                    session: session,
                    task: id,
                    payload: Self.summary(created)
                )
            ],
            in: db
        )
        return created
    }

    /// Marks a queued (or, after a crash, running) task as running: one more attempt, `task.started`.
    ///
    /// The task is claimed for this gateway: a queued one, or a running one this gateway claimed before (it resumes
    /// after a restart). On a PostgreSQL database several gateways share, the claim is in the `UPDATE`'s own
    /// condition, which the database checks again on the row another gateway's claim has just changed, so exactly
    /// one of them starts it; the others get a conflict.
    ///
    /// `caps` (on PostgreSQL): a queued task starts only while the gateways together run fewer tasks than the cap
    /// (workflow and spec coordinators aside), and fewer of its provider's than that cap, else ``AtCapacity``. The
    /// counts are exact: every write transaction on PostgreSQL holds the ledger's lock from its start, so no other
    /// gateway starts a task meanwhile. The provider is recorded on the task (`tasks.provider`) for the next count.
    public func start(_ id: TaskRecord.ID, caps: ClusterCaps? = nil) async throws -> TaskRecord {
        try await change(id, event: .taskStarted, actor: .system) { [node] db in
            if let caps, db.dialect == .postgres {
                let current = try Self.fetch(id, in: db)
                if current.status == .queued { try Self.check(caps, in: db) }
            }
            let now = WireFormat.timestamp(Date())
            guard
                let updated = try db.record(
                    TaskRecord.self,
                    """
                    UPDATE tasks SET status = 'running', attempts = attempts + 1, node = ?,
                        started_at = COALESCE(started_at, ?), heartbeat_at = ?, provider = COALESCE(?, provider)
                    WHERE id = ? AND (status = 'queued' OR (status = 'running' AND COALESCE(node, '') = ?))
                    RETURNING *
                    """,
                    [node, now, now, caps?.provider, id.rawValue, node]
                )
            else {
                let current = try Self.fetch(id, in: db)
                guard current.isFinished else {
                    throw StoreError.conflict("task \(id.rawValue) is run by another gateway")
                }
                throw StoreError.conflict("task \(id.rawValue) is \(current.status)")
            }
            return (updated, [:])
        }
    }

    /// Ends a task: `completed` with its result, or `failed` with its error; usage the meter did not already
    /// add as the calls settled (``spend(_:tokens:costUSD:in:)``) is added.
    public func finish(
        _ id: TaskRecord.ID,
        result: String?,
        error: String?,
        tokens: Int,
        costUSD: Double
    ) async throws -> TaskRecord {
        let status: TaskStatus = error == nil ? .completed : .failed
        let event: Event.Kind = error == nil ? .taskCompleted : .taskFailed
        return try await change(id, event: event, actor: .system) { db in
            let updated = try Self.update(
                db,
                """
                UPDATE tasks SET status = ?, result = ?, error = ?, tokens = tokens + ?,
                    cost_usd = cost_usd + ?, finished_at = ? WHERE id = ? AND status IN ('queued', 'running')
                RETURNING *
                """,
                [status, result, error, tokens, costUSD, WireFormat.timestamp(Date()), id.rawValue],
                id
            )
            let payload: [String: JSONValue] =
                error.map { ["error": .string($0)] } ?? ["result": .string(String((result ?? "").prefix(2000)))]
            return (updated, payload)
        }
    }

    /// Cancels a task that has not finished; finished ones are a conflict.
    public func cancel(_ id: TaskRecord.ID, actor: Principal) async throws -> TaskRecord {
        try await change(id, event: .taskCancelled, actor: actor) { db in
            let updated = try Self.update(
                db,
                """
                UPDATE tasks SET status = 'cancelled', finished_at = ? WHERE id = ? AND status IN ('queued', 'running')
                RETURNING *
                """,
                [WireFormat.timestamp(Date()), id.rawValue],
                id
            )
            return (updated, [:])
        }
    }

    /// One task; ``StoreError/notFound(kind:id:)`` for an unknown id.
    public func get(_ id: TaskRecord.ID) async throws -> TaskRecord {
        try await writer.readBounded { db in try Self.fetch(id, in: db) }
    }

    /// How many tasks there are in each status.
    public func counts() async throws -> [TaskStatus: Int] {
        try await writer.read { db in
            var counts: [TaskStatus: Int] = [:]
            for row in try db.rows("SELECT status, COUNT(*) FROM tasks GROUP BY status") {
                if let status = TaskStatus(rawValue: row[0]) { counts[status] = row[1] }
            }
            return counts
        }
    }

    /// The finished tasks of `task`'s conversation (its `context`) created before it, oldest first, at most
    /// `limit` of the latest; none for a task outside a conversation.
    public func conversation(before task: TaskRecord, limit: Int = 10) async throws -> [TaskRecord] {
        guard let context = task.context else { return [] }
        return try await writer.read { db in
            try db.records(
                TaskRecord.self,
                """
                SELECT * FROM tasks WHERE context = ? AND id != ?
                    AND created_at <= (SELECT created_at FROM tasks WHERE id = ?)
                    AND status IN ('completed', 'failed') ORDER BY created_at DESC, id DESC LIMIT ?
                """,
                [context, task.id.rawValue, task.id.rawValue, limit]
            ).reversed()
        }
    }

    /// Tasks, newest first, optionally of one status or one parent.
    public func list(
        status: TaskStatus? = nil,
        parent: TaskRecord.ID? = nil,
        context: String? = nil,
        limit: Int = 100
    ) async throws
        -> [TaskRecord]
    {
        try await writer.read { db in
            var clauses: [String] = []
            var arguments: SQLArguments = []
            if let status {
                clauses.append("status = ?")
                arguments += [status]
            }
            if let parent {
                clauses.append("parent = ?")
                arguments += [parent.rawValue]
            }
            if let context {
                clauses.append("context = ?")
                arguments += [context]
            }
            let condition = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            arguments += [limit]
            return try db.records(
                TaskRecord.self,
                "SELECT * FROM tasks \(condition) ORDER BY created_at DESC, id LIMIT ?",
                arguments
            )
        }
    }

    /// Tasks that still have to run, highest priority first, oldest first within a priority: the queue after a
    /// restart (a `running` one was interrupted by the crash and resumes; on a shared PostgreSQL database, only
    /// this gateway's own).
    public func unfinished() async throws -> [TaskRecord] {
        try await writer.read { db in
            try db.records(
                TaskRecord.self,
                """
                SELECT * FROM tasks WHERE status = 'queued' OR (status = 'running' AND COALESCE(node, '') = ?)
                ORDER BY priority DESC, created_at, id
                """,
                [node]
            )
        }
    }

    /// `chain(id, level)`: the task bound to the first `?` (level 0) and its ancestors, at most 64 levels up.
    static let chain = """
        WITH RECURSIVE chain(id, level) AS (
            SELECT ?, 0
            UNION ALL
            SELECT t.parent, c.level + 1 FROM tasks t JOIN chain c ON t.id = c.id
            WHERE t.parent IS NOT NULL AND c.level < 64
        )

        """

    /// The task and its ancestors, nearest first: whose limits a call made for the task must fit.
    public func lineage(of id: TaskRecord.ID) async throws -> [TaskRecord] {
        try await writer.read { db in
            try db.records(
                TaskRecord.self,
                Self.chain + "SELECT tasks.* FROM chain JOIN tasks ON tasks.id = chain.id ORDER BY chain.level",
                [id.rawValue]
            )
        }
    }

    /// Adds a settled model call's tokens and cost to the task and to every ancestor, inside the caller's
    /// transaction (the one that records the call): a sub-task's spending counts against its parents, and
    /// what an attempt spent survives a crash, so a resumed task goes on from it.
    static func spend(_ id: TaskRecord.ID, tokens: Int, costUSD: Double, in db: SQLConnection) throws {
        guard tokens != 0 || costUSD != 0 else { return }
        try db.execute(
            Self.chain
                + "UPDATE tasks SET tokens = tokens + ?, cost_usd = cost_usd + ? WHERE id IN (SELECT id FROM chain)",
            [id.rawValue, tokens, costUSD]
        )
    }

    /// The task whose transcript is `session`, if any: the task of an event about that session.
    static func id(ofSession session: Session.ID?, in db: SQLConnection) throws -> TaskRecord.ID? {
        guard let session else { return nil }
        return try db.value(String.self, "SELECT id FROM tasks WHERE session = ?", [session.rawValue])
            .map { TaskRecord.ID($0) }
    }

    static func fetch(_ id: TaskRecord.ID, in db: SQLConnection) throws -> TaskRecord {
        guard
            let task = try db.record(TaskRecord.self, "SELECT * FROM tasks WHERE id = ?", [id.rawValue])
        else {
            throw StoreError.notFound(kind: "task", id: id.rawValue)
        }
        return task
    }

    static func summary(_ task: TaskRecord) -> JSONValue {
        [
            "title": .string(task.title), "agent": .string(task.agent), "priority": .int(task.priority),
            "depth": .int(task.depth), "parent": task.parent.map { .string($0.rawValue) } ?? .null,
            "tools": task.tools.map { .array($0.map(JSONValue.string)) } ?? .null,
            "schedule": task.schedule.map { .string($0.rawValue) } ?? .null,
            "max_tokens": .int(task.maxTokens), "max_cost_usd": .double(task.maxCostUSD),
            "context": task.context.map(JSONValue.string) ?? .null,
            "persona": task.persona.map(JSONValue.string) ?? .null,
            "seed": task.seed.map { .string($0.rawValue) } ?? .null,
        ]
    }

    /// Runs `statement` (an `UPDATE … RETURNING *` of unfinished task `id`) and reads the row it returns; when it
    /// matched no row, the task is unknown (not found) or already finished (a conflict naming its status).
    static func update(
        _ db: SQLConnection,
        _ sql: String,
        _ arguments: SQLArguments,
        _ id: TaskRecord.ID
    ) throws -> TaskRecord {
        guard let task = try db.record(TaskRecord.self, sql, arguments) else {
            throw StoreError.conflict("task \(id.rawValue) is already \(try fetch(id, in: db).status)")
        }
        return task
    }

    /// Applies `body` in one immediate transaction and appends `event` with its payload.
    ///
    /// `body` updates the row under the condition its change needs (`WHERE id = ? AND status …`) and returns the
    /// record as the update left it (`RETURNING *`): the row is read once, not before and after. Only when the
    /// condition matched nothing does it read the row, to say why.
    func change(
        _ id: TaskRecord.ID,
        event: Event.Kind,
        actor: Principal,
        _ body:
            @escaping @Sendable (SQLConnection) throws -> (
                updated: TaskRecord, payload: [String: JSONValue]
            )
    ) async throws -> TaskRecord {
        try await writer.transaction { db in
            let (updated, changes) = try body(db)
            var payload = changes
            payload["attempts"] = .int(updated.attempts)
            payload["tokens"] = .int(updated.tokens)
            payload["cost_usd"] = .double(updated.costUSD)
            _ = try ledger.append(
                [
                    EventDraft(
                        type: event,
                        actor: actor,
                        session: updated.session,
                        task: id,
                        payload: .object(payload)
                    )
                ],
                in: db
            )
            return updated
        }
    }
}
