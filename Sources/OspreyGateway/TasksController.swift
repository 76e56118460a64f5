import Foundation
import Hummingbird
import OspreyCore
import OspreyScheduler
import OspreyStore

/// `/api/tasks` and `/api/schedules`: background tasks (submit, list, show, cancel) and their schedules
/// (add, list, show, remove, run now).
struct TasksController {
    let kernel: Kernel

    func add(to routes: inout RouteTable) {
        routes.on(.post, "/api/tasks", .role(.operator), submit)
        routes.on(.get, "/api/tasks", .role(.viewer), list)
        routes.on(.get, "/api/tasks/:id", .role(.viewer), show)
        routes.on(.post, "/api/tasks/:id/cancel", .role(.operator), cancel)
        routes.on(.post, "/api/schedules", .role(.operator), schedule)
        routes.on(.get, "/api/schedules", .role(.viewer), schedules)
        routes.on(.get, "/api/schedules/:id", .role(.viewer), showSchedule)
        routes.on(.delete, "/api/schedules/:id", .role(.operator), unschedule)
        routes.on(.post, "/api/schedules/:id/run", .role(.operator), runNow)
    }

    static let statuses: Set<String> = ["queued", "running", "completed", "failed", "cancelled"]

    @Sendable func submit(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await JSONBody.read(
            request,
            maxBytes: kernel.config.gateway.maxBodyBytes,
            allowed: ["title", "instructions", "agent", "tools", "priority", "max_tokens", "max_cost_usd"]
        )
        let draft = try Self.draft(body.members, knows: kernel.runtime.knows(agent:))
        let task = try await kernel.supervisor.submit(draft, actor: context.actor)
        return try .json(task.json, status: .created)
    }

    /// A task draft from JSON members, every field checked.
    static func draft(_ members: [String: JSONValue], knows: (String) -> Bool) throws -> Tasks.Draft {
        guard let title = members["title"]?.stringValue else { throw APIError.badRequest("Field 'title' is required.") }
        guard let instructions = members["instructions"]?.stringValue else {
            throw APIError.badRequest("Field 'instructions' is required.")
        }
        let agent = members["agent"]?.stringValue ?? "default"
        guard knows(agent) else { throw APIError.badRequest("No agent named '\(agent)'.") }
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
        return draft
    }

    @Sendable func list(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let status = request.stringQuery("status")
        if let status, !Self.statuses.contains(status) {
            throw APIError.badRequest(
                "Query parameter 'status' must be one of \(Self.statuses.sorted().joined(separator: ", "))."
            )
        }
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let tasks = try await kernel.store.tasks.list(status: status, limit: limit)
        return try .json(JSONValue.object(["tasks": .array(tasks.map(\.json))]))
    }

    @Sendable func show(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try .json(try await kernel.store.tasks.get(TaskRecord.ID(try Self.id(context))).json)
    }

    @Sendable func cancel(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let task = try await kernel.supervisor.cancel(TaskRecord.ID(try Self.id(context)), actor: context.actor)
        return try .json(task.json)
    }

    @Sendable func schedule(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await JSONBody.read(
            request,
            maxBytes: kernel.config.gateway.maxBodyBytes,
            allowed: [
                "name", "spec", "timezone", "missed", "trigger", "agent", "title", "instructions", "tools", "priority",
                "checks", "remediation", "max_tokens", "max_cost_usd",
            ]
        )
        var checks: [JSONValue] = []
        if let value = body.members["checks"], value != .null {
            guard let items = value.arrayValue else { throw APIError.badRequest("Field 'checks' must be an array.") }
            checks = items
        }
        let draft = try Self.draft(body.members, knows: kernel.runtime.knows(agent:))
        var trigger: (event: String, filter: [String: JSONValue], cooldown: Int)?
        if let value = body.members["trigger"], value != .null {
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
        var scheduleRequest = Scheduler.Request(
            name: try body.optionalString("name"),
            spec: try body.optionalString("spec"),
            timezone: try body.optionalString("timezone") ?? "UTC",
            missed: try body.optionalString("missed") ?? "skip",
            triggerEvent: trigger?.event,
            triggerFilter: trigger?.filter ?? [:],
            cooldownSeconds: trigger?.cooldown ?? 60,
            agent: draft.agent,
            title: draft.title,
            instructions: draft.instructions,
            tools: draft.tools,
            priority: draft.priority
        )
        scheduleRequest.checks = checks
        scheduleRequest.maxTokens = draft.maxTokens
        scheduleRequest.maxCostUSD = draft.maxCostUSD
        scheduleRequest.remediation = try body.optionalString("remediation")
        let schedule = try await kernel.scheduler.add(scheduleRequest, actor: context.actor)
        return try .json(schedule.json, status: .created)
    }

    @Sendable func schedules(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try .json(JSONValue.object(["schedules": .array(try await kernel.store.schedules.list().map(\.json))]))
    }

    @Sendable func showSchedule(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try .json(try await kernel.store.schedules.get(ScheduleRecord.ID(try Self.id(context))).json)
    }

    @Sendable func unschedule(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try await kernel.store.schedules.remove(ScheduleRecord.ID(try Self.id(context)), actor: context.actor)
        return Response(status: .noContent)
    }

    @Sendable func runNow(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let task = try await kernel.scheduler.fire(ScheduleRecord.ID(try Self.id(context)))
        // A routine whose checks did not change submits nothing.
        return try .json(JSONValue.object(["task": task?.json ?? .null]), status: task == nil ? .ok : .created)
    }

    static func id(_ context: GatewayRequestContext) throws -> String {
        guard let raw = context.parameters.get("id"), !raw.isEmpty else { throw APIError.badRequest("Missing id.") }
        return raw
    }
}
