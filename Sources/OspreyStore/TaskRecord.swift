public import Foundation
public import GRDB
public import OspreyCore

/// A background agent job as stored: what to do, its state, and what it cost.
public struct TaskRecord: Hashable, Sendable, Codable, FetchableRecord, TableRecord {
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

    public static let databaseTableName = "tasks"

    public static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy { .wireFormat }

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
