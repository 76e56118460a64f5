public import Foundation
public import OspreyCore

/// A background agent job as stored: what to do, its state, and what it cost.
public struct TaskRecord: Hashable, Sendable, Codable, SQLRecord {
    public typealias ID = BackgroundTask.ID
    public var id: ID
    public var title: String
    public var instructions: String
    public var agent: String
    /// The tools the task may use (never more than its parent's); nil means the agent's own set.
    public var tools: [String]?
    /// 0 (lowest) ... 9 (highest).
    public var priority: Int
    public var status: TaskStatus
    public var parent: ID?
    public var depth: Int
    /// The session holding the task's transcript.
    public var session: Session.ID
    /// The schedule that fired the task, if one did.
    public var schedule: ScheduleRecord.ID?
    public var result: String?
    public var error: String?
    /// Tokens spent by the task's model calls and by those of its sub-tasks, over every attempt.
    public var tokens: Int
    /// Dollars spent the same way.
    public var costUSD: Double
    /// Most tokens the task (with its sub-tasks) may spend; 0 for no limit.
    public var maxTokens: Int
    /// Most dollars the task (with its sub-tasks) may spend; 0 for no limit.
    public var maxCostUSD: Double
    /// How many times a run was started (more than one after a crash recovery).
    public var attempts: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var heartbeatAt: Date?
    /// True when the task was delegated or scheduled by a run with untrusted content in its context (or by such a
    /// task): it starts tainted, and its result is untrusted where it is read.
    public var tainted: Bool
    /// The workflow skill this task runs (its instructions are then the inputs, as a JSON object); nil for an
    /// agent task.
    public var workflow: String?
    /// The conversation the task belongs to (an A2A `contextId`); nil for a task on its own.
    public var context: String?
    /// The persona the task's run acts in; nil for the agent as configured.
    public var persona: String?
    /// The seed a spec-first run starts from (plan, execute, evaluate, evolve); nil for any other task.
    public var seed: SeedRecord.ID?
    /// The directory the task's tools act in, when not the home's workspace (a speculative branch's copy).
    public var workspace: String?

    /// True once the task can change no more.
    public var isFinished: Bool { status.isFinished }

    /// A row of `tasks`, read column by column: the supervisor reads a task at every change of it, and GRDB's
    /// `Decodable` path (a keyed container, a date strategy lookup and a JSON decoder per row) cost 5 % of a
    /// task's CPU.
    public init(row: SQLRow) throws {
        let status: String = row["status"]
        guard let parsed = TaskStatus(rawValue: status) else {
            throw StoreError.invalid("tasks.status is not a status: \(status)")
        }
        id = ID(row["id"] as String)
        title = row["title"]
        instructions = row["instructions"]
        agent = row["agent"]
        if let tools = row["tools"] as String? {
            guard let list = (try? JSONValue.parse(tools))?.arrayValue?.map(\.stringValue), !list.contains(nil) else {
                throw StoreError.invalid("tasks.tools is not a list of names: \(tools)")
            }
            self.tools = list.compactMap { $0 }
        } else {
            tools = nil
        }
        priority = row["priority"]
        self.status = parsed
        parent = (row["parent"] as String?).map { ID($0) }
        depth = row["depth"]
        session = Session.ID(row["session"] as String)
        schedule = (row["schedule"] as String?).map { ScheduleRecord.ID($0) }
        result = row["result"]
        error = row["error"]
        tokens = row["tokens"]
        costUSD = row["cost_usd"]
        maxTokens = row["max_tokens"]
        maxCostUSD = row["max_cost_usd"]
        attempts = row["attempts"]
        guard let created = try row.timestamp("created_at", of: "tasks") else {
            throw StoreError.invalid("tasks.created_at is missing")
        }
        createdAt = created
        startedAt = try row.timestamp("started_at", of: "tasks")
        finishedAt = try row.timestamp("finished_at", of: "tasks")
        heartbeatAt = try row.timestamp("heartbeat_at", of: "tasks")
        tainted = row["tainted"]
        workflow = row["workflow"]
        context = row["context"]
        persona = row["persona"]
        seed = (row["seed"] as String?).map { SeedRecord.ID($0) }
        workspace = row["workspace"]
    }

    private enum CodingKeys: String, CodingKey {
        case id, title, instructions, agent, tools, priority, status, parent, depth, session, schedule, result, error
        case tokens, attempts, tainted, workflow, context, persona, seed, workspace
        case costUSD = "cost_usd"
        case maxTokens = "max_tokens"
        case maxCostUSD = "max_cost_usd"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case heartbeatAt = "heartbeat_at"
    }

    /// The API and event form.
    public var json: JSONValue {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func time(_ value: Date?) -> JSONValue { value.map { .string(WireFormat.timestamp($0)) } ?? .null }
        return [
            "id": .string(id.rawValue), "title": .string(title), "instructions": .string(instructions),
            "agent": .string(agent), "tools": tools.map { .array($0.map(JSONValue.string)) } ?? .null,
            "priority": .int(priority), "status": .string(status.rawValue), "parent": optional(parent?.rawValue),
            "depth": .int(depth), "session": .string(session.rawValue), "schedule": optional(schedule?.rawValue),
            "result": optional(result), "error": optional(error), "tokens": .int(tokens),
            "cost_usd": .double(costUSD), "max_tokens": .int(maxTokens), "max_cost_usd": .double(maxCostUSD),
            "attempts": .int(attempts), "created_at": time(createdAt), "tainted": .bool(tainted),
            "started_at": time(startedAt), "finished_at": time(finishedAt), "heartbeat_at": time(heartbeatAt),
            "workflow": optional(workflow), "context": optional(context), "persona": optional(persona),
            "seed": optional(seed?.rawValue), "workspace": optional(workspace),
        ]
    }
}
