import Foundation
import Hummingbird
import OspreyCore
import OspreyScheduler
import OspreyStore

/// `/api/tasks` and `/api/schedules`: background tasks (submit, list, show, cancel) and their schedules
/// (add, list, show, remove, run now).
struct TasksController {
    let tasks: Tasks
    let schedules: Schedules
    let scheduler: Scheduler
    /// Whether config.toml defines an agent by this name.
    let knows: @Sendable (String) -> Bool
    /// Whether a persona by this name exists.
    let knowsPersona: @Sendable (String) -> Bool
    /// Refuses a tool list that names a tool there is none of (``AgentRuntime/checkTools(_:)``).
    let checkTools: @Sendable ([String]) throws -> Void
    /// Checks a workflow skill and the inputs (JSON) a schedule gives it; whether the skill is trusted.
    let workflow: @Sendable (_ name: String, _ inputs: String) throws -> Bool

    var operations: [Operation] {
        [submit, list, show, cancel, schedule, listSchedules, showSchedule, unschedule, runNow, pause, resume]
    }

    func add(to routes: inout RouteTable) {
        let id = ["id": "id"]
        routes.bind(.post, "/api/tasks", submit, body: true, status: { _ in .created })
        routes.bind(.get, "/api/tasks", list, query: List.fields)
        routes.bind(.get, "/api/tasks/:id", show, parameters: id)
        routes.bind(.post, "/api/tasks/:id/cancel", cancel, parameters: id)
        routes.bind(.post, "/api/schedules", schedule, body: true, status: { _ in .created })
        routes.bind(.get, "/api/schedules", listSchedules)
        routes.bind(.get, "/api/schedules/:id", showSchedule, parameters: id)
        routes.bind(.delete, "/api/schedules/:id", unschedule, parameters: id, status: { _ in .noContent })
        routes.bind(.post, "/api/schedules/:id/pause", pause, parameters: id)
        routes.bind(.post, "/api/schedules/:id/resume", resume, parameters: id)
        // A routine whose checks did not change submits nothing.
        routes.bind(
            .post,
            "/api/schedules/:id/run",
            runNow,
            parameters: id,
            status: { $0["task"] == .null ? .ok : .created }
        )
    }

    static let statuses = Set(TaskStatus.allCases.map(\.rawValue))

    static let draftFields: Set<String> = [
        "title", "instructions", "agent", "tools", "priority", "max_tokens", "max_cost_usd", "context", "persona",
    ]

    struct Submit: OperationRequest {
        static let fields = TasksController.draftFields
        let draft: Tasks.Draft
        init(_ fields: Fields) throws { draft = try TasksController.draft(fields.members) }
    }

    var submit: Operation {
        Operation("tasks.submit", role: .operator) { (request: Submit, caller) in
            try check(agent: request.draft.agent, tools: request.draft.tools)
            if let persona = request.draft.persona, !knowsPersona(persona) {
                throw APIError.badRequest("No persona named '\(persona)'.")
            }
            var draft = request.draft
            // Content from a door that vouches for none of it (A2A) starts the task tainted.
            draft.tainted = draft.tainted || caller.untrusted
            return try await tasks.submit(draft, actor: caller.actor).json
        }
    }

    func check(agent: String, tools: [String]? = nil) throws {
        guard knows(agent) else { throw APIError.badRequest("No agent named '\(agent)'.") }
        try checkTools(tools ?? [])
    }

    /// A task draft from JSON members, every field checked.
    ///
    /// Whether the agent exists is the handler's check (``check(agent:)``): decoding needs no configuration.
    static func draft(_ members: [String: JSONValue]) throws -> Tasks.Draft {
        guard let title = members["title"]?.stringValue else { throw APIError.badRequest("Field 'title' is required.") }
        guard let instructions = members["instructions"]?.stringValue else {
            throw APIError.badRequest("Field 'instructions' is required.")
        }
        let agent = members["agent"]?.stringValue ?? "default"
        var tools: [String]?
        if let value = members["tools"], value != .null {
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                throw APIError.badRequest("Field 'tools' must be an array of tool names.")
            }
            tools = items.compactMap(\.stringValue)
        }
        var priority = 5
        if let value = members["priority"] {
            guard let number = value.intValue, (0...9).contains(number) else {
                throw APIError.badRequest("Field 'priority' must be an integer in 0...9 (9 runs first).")
            }
            priority = number
        }
        var draft = Tasks.Draft(
            title: title,
            instructions: instructions,
            agent: agent,
            tools: tools,
            priority: priority
        )
        if let value = members["max_tokens"], value != .null {
            guard let number = value.intValue, number >= 0 else {
                throw APIError.badRequest("Field 'max_tokens' must be an integer, 0 (no limit) or more.")
            }
            draft.maxTokens = number
        }
        if let value = members["max_cost_usd"], value != .null {
            guard let number = value.doubleValue, number >= 0, number.isFinite else {
                throw APIError.badRequest("Field 'max_cost_usd' must be a number, 0 (no limit) or more.")
            }
            draft.maxCostUSD = number
        }
        if let value = members["persona"], value != .null {
            guard let persona = value.stringValue else {
                throw APIError.badRequest("Field 'persona' must be a string.")
            }
            draft.persona = persona
        }
        if let value = members["context"], value != .null {
            guard let context = value.stringValue else {
                throw APIError.badRequest("Field 'context' must be a string.")
            }
            draft.context = context
        }
        return draft
    }

    struct List: OperationRequest {
        static let fields: Set<String> = ["status", "context", "limit"]
        let status: TaskStatus?
        let context: String?
        let limit: Int
        init(_ fields: Fields) throws {
            let text = try fields.optionalString("status")
            status = text.flatMap(TaskStatus.init(rawValue:))
            if text != nil, status == nil {
                throw APIError.badRequest(
                    "\(fields.label("status")) must be one of \(TasksController.statuses.sorted().joined(separator: ", "))."
                )
            }
            context = try fields.optionalString("context")
            limit = try fields.int("limit", default: 100, range: 1...1000)
        }
    }

    var list: Operation {
        Operation("tasks.list", role: .viewer) { (request: List, _) in
            let found = try await tasks.list(status: request.status, context: request.context, limit: request.limit)
            return ["tasks": .array(found.map(\.json))]
        }
    }

    var show: Operation {
        Operation("tasks.get", role: .viewer) { (request: RecordID, _) in
            try await tasks.get(TaskRecord.ID(request.id)).json
        }
    }

    var cancel: Operation {
        Operation("tasks.cancel", role: .operator) { (request: RecordID, caller) in
            try await tasks.cancel(TaskRecord.ID(request.id), actor: caller.actor).json
        }
    }

    struct Schedule: OperationRequest {
        // A schedule's tasks are not part of a conversation, and act as their agent is configured.
        static let fields = TasksController.draftFields.subtracting(["context", "persona"]).union([
            "name", "spec", "timezone", "missed", "trigger", "checks", "remediation", "workflow",
        ])
        let request: Scheduler.Request

        init(_ fields: Fields) throws {
            let members = fields.members
            var checks: [JSONValue] = []
            if let value = members["checks"], value != .null {
                guard let items = value.arrayValue else {
                    throw APIError.badRequest("Field 'checks' must be an array.")
                }
                checks = items
            }
            let draft = try TasksController.draft(members)
            var trigger: (event: String, filter: [String: JSONValue], cooldown: Int)?
            if let value = members["trigger"], value != .null {
                guard let object = value.objectValue, let event = object["event"]?.stringValue else {
                    throw APIError.badRequest(
                        "Field 'trigger' must be {\"event\": TYPE, \"filter\"?: {...}, \"cooldown_seconds\"?: N}."
                    )
                }
                if let unknown = object.keys.first(where: { !["event", "filter", "cooldown_seconds"].contains($0) }) {
                    throw APIError.badRequest("Unknown field 'trigger.\(unknown)'.")
                }
                guard object["filter"] == nil || object["filter"]?.objectValue != nil else {
                    throw APIError.badRequest("Field 'trigger.filter' must be an object.")
                }
                guard object["cooldown_seconds"] == nil || object["cooldown_seconds"]?.intValue != nil else {
                    throw APIError.badRequest("Field 'trigger.cooldown_seconds' must be an integer.")
                }
                trigger = (event, object["filter"]?.objectValue ?? [:], object["cooldown_seconds"]?.intValue ?? 60)
            }
            var request = Scheduler.Request(
                name: try fields.optionalString("name"),
                spec: try fields.optionalString("spec"),
                timezone: try fields.optionalString("timezone") ?? "UTC",
                missed: try fields.optionalString("missed") ?? "skip",
                triggerEvent: trigger?.event,
                triggerFilter: trigger?.filter ?? [:],
                cooldownSeconds: trigger?.cooldown ?? 60,
                agent: draft.agent,
                title: draft.title,
                instructions: draft.instructions,
                tools: draft.tools,
                priority: draft.priority
            )
            request.checks = checks
            request.maxTokens = draft.maxTokens
            request.maxCostUSD = draft.maxCostUSD
            request.remediation = try fields.optionalString("remediation")
            // A workflow schedule's instructions are the workflow's inputs, as a JSON object.
            request.workflow = try fields.optionalString("workflow")
            self.request = request
        }
    }

    var schedule: Operation {
        Operation("schedules.add", role: .operator) { (request: Schedule, caller) in
            try check(agent: request.request.agent, tools: request.request.tools)
            var draft = request.request
            if let name = draft.workflow {
                do {
                    // An untrusted (workspace) workflow's runs start tainted.
                    if try !workflow(name, draft.instructions) { draft.tainted = true }
                } catch let error as WorkflowRunner.Failure {
                    throw APIError.badRequest(error.description)
                }
            }
            return try await scheduler.add(draft, actor: caller.actor).json
        }
    }

    var listSchedules: Operation {
        Operation("schedules.list", role: .viewer) { (_: NoFields, _) in
            ["schedules": .array(try await schedules.list().map(\.json))]
        }
    }

    var showSchedule: Operation {
        Operation("schedules.get", role: .viewer) { (request: RecordID, _) in
            try await schedules.get(ScheduleRecord.ID(request.id)).json
        }
    }

    var unschedule: Operation {
        Operation("schedules.remove", role: .operator) { (request: RecordID, caller) in
            try await schedules.remove(ScheduleRecord.ID(request.id), actor: caller.actor)
            return ["removed": true]
        }
    }

    /// Stops a schedule firing by time or event until it is resumed.
    var pause: Operation {
        Operation("schedules.pause", role: .operator) { (request: RecordID, caller) in
            try await schedules.setPaused(ScheduleRecord.ID(request.id), true, actor: caller.actor).json
        }
    }

    var resume: Operation {
        Operation("schedules.resume", role: .operator) { (request: RecordID, caller) in
            try await schedules.setPaused(ScheduleRecord.ID(request.id), false, actor: caller.actor).json
        }
    }

    var runNow: Operation {
        Operation("schedules.run", role: .operator) { (request: RecordID, _) in
            ["task": try await scheduler.fire(ScheduleRecord.ID(request.id))?.json ?? .null]
        }
    }
}
