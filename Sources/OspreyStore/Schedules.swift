public import Foundation
public import OspreyCore
import Synchronization

/// A schedule as stored: the ``Schedules/Draft`` it was added as (when it fires and the task it submits; its
/// fields read straight through, `record.title`), plus what the store keeps beside it.
@dynamicMemberLookup
public struct ScheduleRecord: Hashable, Sendable, SQLRecord {
    public typealias ID = Identifier<ScheduleRecord>
    public var id: ID
    /// What it was added as; ``name`` is filled in (the title when the draft had none).
    public var draft: Schedules.Draft
    public var createdAt: Date
    public var lastFiredAt: Date?
    /// A routine's last observations, by check index.
    public var state: [String: JSONValue]
    /// Paused: it does not fire by time or event until resumed (run now still fires it).
    public var paused: Bool { pausedBy != nil }
    /// Who paused it: `operator`, or `budget` (its agent spent its daily budget), or nil.
    public var pausedBy: String?

    public var name: String { draft.name ?? draft.title }

    public subscript<Value>(dynamicMember field: WritableKeyPath<Schedules.Draft, Value>) -> Value {
        get { draft[keyPath: field] }
        set { draft[keyPath: field] = newValue }
    }

    /// Decoded by hand, not through `Decodable`: the JSON columns (`trigger_filter`, `checks`, `state`) are read
    /// with `JSONValue.parse`, which keeps `1.0` a double. `JSONDecoder` would read it as the integer 1, and a
    /// routine would then see its stored observations change.
    public init(row: SQLRow) {
        id = ID(row["id"] as String)
        var draft = Schedules.Draft(
            name: row["name"],
            spec: row["spec"],
            timezone: row["timezone"],
            missed: row["missed"],
            triggerEvent: row["trigger_event"],
            triggerFilter: (row["trigger_filter"] as String?).flatMap { try? JSONValue.parse($0).objectValue } ?? [:],
            cooldownSeconds: row["cooldown_seconds"],
            agent: row["agent"],
            title: row["title"],
            instructions: row["instructions"],
            tools: (row["tools"] as String?).flatMap {
                try? JSONValue.parse($0).arrayValue?.compactMap(\.stringValue)
            },
            priority: row["priority"],
            nextFireAt: (row["next_fire_at"] as String?).flatMap(WireFormat.date(from:))
        )
        draft.checks = (row["checks"] as String?).flatMap { try? JSONValue.parse($0).arrayValue } ?? []
        draft.remediation = row["remediation"]
        draft.maxTokens = row["max_tokens"] ?? 0
        draft.maxCostUSD = row["max_cost_usd"] ?? 0
        draft.tainted = (row["tainted"] as Int?) == 1
        draft.parent = (row["parent"] as String?).map { TaskRecord.ID($0) }
        draft.workflow = row["workflow"]
        self.draft = draft
        createdAt = WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        lastFiredAt = (row["last_fired_at"] as String?).flatMap(WireFormat.date(from:))
        state = (row["state"] as String?).flatMap { try? JSONValue.parse($0).objectValue } ?? [:]
        pausedBy =
            switch row["paused"] as Int? {
            case 1?: "operator"
            case 2?: "budget"
            default: nil
            }
    }

    /// The API and event form.
    public var json: JSONValue {
        func time(_ value: Date?) -> JSONValue { value.map { .string(WireFormat.timestamp($0)) } ?? .null }
        return [
            "id": .string(id.rawValue), "name": .string(name), "spec": draft.spec.map(JSONValue.string) ?? .null,
            "timezone": .string(draft.timezone), "missed": .string(draft.missed),
            "trigger": draft.triggerEvent.map {
                [
                    "event": .string($0), "filter": .object(draft.triggerFilter),
                    "cooldown_seconds": .int(draft.cooldownSeconds),
                ]
            } ?? .null,
            "agent": .string(draft.agent), "title": .string(draft.title), "instructions": .string(draft.instructions),
            "tools": draft.tools.map { .array($0.map(JSONValue.string)) } ?? .null, "priority": .int(draft.priority),
            "created_at": time(createdAt), "last_fired_at": time(lastFiredAt), "next_fire_at": time(draft.nextFireAt),
            "checks": .array(draft.checks), "remediation": draft.remediation.map(JSONValue.string) ?? .null,
            "max_tokens": .int(draft.maxTokens), "max_cost_usd": .double(draft.maxCostUSD),
            "tainted": .bool(draft.tainted),
            "parent": draft.parent.map { .string($0.rawValue) } ?? .null,
            "workflow": draft.workflow.map(JSONValue.string) ?? .null, "paused": .bool(paused),
            "paused_by": pausedBy.map(JSONValue.string) ?? .null,
        ]
    }
}

/// Schedules: added, fired, removed; each change with its `schedule.*` event.
public struct Schedules: Sendable {
    let writer: GroupCommit
    let ledger: Ledger
    /// The event-triggered schedules, kept in memory between changes: the scheduler asks for them on every event.
    /// The trigger schedules as last read (a budget's pause changes schedules too, so ``Budgets`` shares it).
    let triggerCache = ReadCache<[ScheduleRecord]>()

    /// The tasks a firing submits, in the firing's own transaction.
    let tasks: Tasks

    init(writer: GroupCommit, ledger: Ledger, tasks: Tasks) {
        self.writer = writer
        self.ledger = ledger
        self.tasks = tasks
    }

    /// A schedule as a client asks for it, and as it is stored once the scheduler has checked it (parsed the spec
    /// and zone, worked out ``nextFireAt``). One type from the API and the agent tools down to the row.
    public struct Draft: Hashable, Sendable {
        /// A label; the title when nil.
        public var name: String?
        public var spec: String?
        public var timezone: String
        public var missed: String
        public var triggerEvent: String?
        public var triggerFilter: [String: JSONValue]
        public var cooldownSeconds: Int
        public var agent: String
        public var title: String
        public var instructions: String
        public var tools: [String]?
        public var priority: Int
        /// Set by the scheduler from the spec.
        public var nextFireAt: Date?
        /// A routine's deterministic checks; the agent runs only when one changes.
        public var checks: [JSONValue] = []
        /// A routine's remediation command, tried before the agent.
        public var remediation: String?
        /// The token limit of each task it fires; 0 for none.
        public var maxTokens = 0
        /// The cost limit of each task it fires, in dollars; 0 for none.
        public var maxCostUSD = 0.0
        /// Created by a run with untrusted content in its context: the tasks it fires start tainted.
        public var tainted = false
        /// The task whose run created it: its tasks count as that task's sub-tasks (depth limit, taint).
        public var parent: TaskRecord.ID?
        /// The workflow skill it runs; `instructions` are then the inputs, as a JSON object.
        public var workflow: String?

        public init(
            name: String? = nil,
            spec: String? = nil,
            timezone: String = "UTC",
            missed: String = "skip",
            triggerEvent: String? = nil,
            triggerFilter: [String: JSONValue] = [:],
            cooldownSeconds: Int = 60,
            agent: String = "default",
            title: String,
            instructions: String,
            tools: [String]? = nil,
            priority: Int = 5,
            nextFireAt: Date? = nil
        ) {
            self.name = name
            self.spec = spec
            self.timezone = timezone
            self.missed = missed
            self.triggerEvent = triggerEvent
            self.triggerFilter = triggerFilter
            self.cooldownSeconds = cooldownSeconds
            self.agent = agent
            self.title = title
            self.instructions = instructions
            self.tools = tools
            self.priority = priority
            self.nextFireAt = nextFireAt
        }
    }

    public func add(_ draft: Draft, actor: Principal) async throws -> ScheduleRecord {
        let id = ScheduleRecord.ID.random(prefix: "sch")
        triggerCache.changing()
        defer { triggerCache.changed() }
        return try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO schedules (id, name, spec, timezone, missed, trigger_event, trigger_filter,
                    cooldown_seconds, agent, title, instructions, tools, priority, created_at, next_fire_at,
                    checks, remediation, max_tokens, max_cost_usd, tainted, parent, workflow)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    id.rawValue, draft.name ?? draft.title, draft.spec, draft.timezone, draft.missed,
                    draft.triggerEvent,
                    draft.triggerEvent == nil ? nil : JSONValue.object(draft.triggerFilter).canonicalJSON,
                    draft.cooldownSeconds, draft.agent, draft.title, draft.instructions,
                    draft.tools.map { JSONValue.array($0.map(JSONValue.string)).canonicalJSON }, draft.priority,
                    WireFormat.timestamp(Date()), draft.nextFireAt.map(WireFormat.timestamp),
                    draft.checks.isEmpty ? nil : JSONValue.array(draft.checks).canonicalJSON, draft.remediation,
                    draft.maxTokens, draft.maxCostUSD, draft.tainted ? 1 : 0, draft.parent?.rawValue, draft.workflow,
                ]
            )
            let created = try Self.fetch(id, in: db)
            _ = try ledger.append(
                [EventDraft(type: .scheduleCreated, actor: actor, payload: created.json)],
                in: db
            )
            return created
        }
    }

    /// Records a routine's heartbeat: its observations, whether they changed, and what that cost (`heartbeat.tick`).
    public func heartbeat(
        _ id: ScheduleRecord.ID,
        at date: Date,
        next: Date?,
        state: [String: JSONValue],
        changed: [String],
        task: TaskRecord.ID?
    ) async throws {
        triggerCache.changing()
        defer { triggerCache.changed() }
        try await writer.transaction { db in
            try db.execute(
                "UPDATE schedules SET last_fired_at = ?, next_fire_at = ?, state = ? WHERE id = ?",
                [
                    WireFormat.timestamp(date), next.map(WireFormat.timestamp),
                    JSONValue.object(state).canonicalJSON,
                    id.rawValue,
                ]
            )
            guard db.changesCount > 0 else { throw StoreError.notFound(kind: "schedule", id: id.rawValue) }
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .heartbeatTick,
                        actor: .system,
                        task: task,
                        payload: [
                            "schedule": .string(id.rawValue), "changed": .array(changed.map(JSONValue.string)),
                            "task": task.map { .string($0.rawValue) } ?? .null, "llm_calls": .int(0), "tokens": .int(0),
                        ]
                    )
                ],
                in: db
            )
        }
    }

    /// Moves the next fire time without firing (the missed-run policy skipped).
    public func reschedule(_ id: ScheduleRecord.ID, next: Date?) async throws {
        try await writer.transaction { db in
            try db.execute(
                "UPDATE schedules SET next_fire_at = ? WHERE id = ?",
                [
                    next.map(WireFormat.timestamp), id.rawValue,
                ]
            )
        }
    }

    /// Pauses a schedule (it fires by neither time nor event) or resumes it; `schedule.paused` or `schedule.resumed`.
    @discardableResult
    public func setPaused(_ id: ScheduleRecord.ID, _ paused: Bool, actor: Principal) async throws -> ScheduleRecord {
        triggerCache.changing()
        defer { triggerCache.changed() }
        return try await writer.transaction { db in
            try db.execute(
                "UPDATE schedules SET paused = ? WHERE id = ?",
                [
                    paused ? 1 : 0, id.rawValue,
                ]
            )
            guard db.changesCount > 0 else { throw StoreError.notFound(kind: "schedule", id: id.rawValue) }
            _ = try ledger.append(
                [
                    EventDraft(
                        type: paused ? .schedulePaused : .scheduleResumed,
                        actor: actor,
                        payload: ["schedule": .string(id.rawValue)]
                    )
                ],
                in: db
            )
            return try Self.fetch(id, in: db)
        }
    }

    public func remove(_ id: ScheduleRecord.ID, actor: Principal) async throws {
        triggerCache.changing()
        defer { triggerCache.changed() }
        try await writer.transaction { db in
            try db.execute("DELETE FROM schedules WHERE id = ?", [id.rawValue])
            guard db.changesCount > 0 else { throw StoreError.notFound(kind: "schedule", id: id.rawValue) }
            _ = try ledger.append(
                [EventDraft(type: .scheduleRemoved, actor: actor, payload: ["schedule": .string(id.rawValue)])],
                in: db
            )
        }
    }

    public func get(_ id: ScheduleRecord.ID) async throws -> ScheduleRecord {
        try await writer.read { db in try Self.fetch(id, in: db) }
    }

    public func list() async throws -> [ScheduleRecord] {
        try await writer.read { db in
            try db.records(ScheduleRecord.self, "SELECT * FROM schedules ORDER BY created_at, id")
        }
    }

    /// The schedules with an event trigger, oldest first, as ``list()`` would give them; read from the database only
    /// after a change, so matching an event against them costs no query.
    public func triggers() async throws -> [ScheduleRecord] {
        let (cached, generation) = triggerCache.current()
        if let cached { return cached }
        let loaded = try await writer.read { db in
            try db.records(
                ScheduleRecord.self,
                "SELECT * FROM schedules WHERE trigger_event IS NOT NULL ORDER BY created_at, id"
            )
        }
        triggerCache.store(loaded, ifStill: generation)
        return loaded
    }

    static func fetch(_ id: ScheduleRecord.ID, in db: SQLConnection) throws -> ScheduleRecord {
        guard
            let schedule = try db.record(ScheduleRecord.self, "SELECT * FROM schedules WHERE id = ?", [id.rawValue])
        else {
            throw StoreError.notFound(kind: "schedule", id: id.rawValue)
        }
        return schedule
    }
}
