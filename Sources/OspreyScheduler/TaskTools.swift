public import OspreyCore
public import OspreyStore
public import OspreyTools

/// `submit_task`: delegates work to a background sub-agent with the same or a narrower tool set.
public struct SubmitTask: Tool {
    public struct Arguments: Decodable {
        var title: String
        var instructions: String
        var tools: [String]?
        var priority: Int?
        var maxTokens: Int?
        var maxCostUSD: Double?

        enum CodingKeys: String, CodingKey {
            case title, instructions, tools, priority
            case maxTokens = "max_tokens"
            case maxCostUSD = "max_cost_usd"
        }
    }

    let store: Store
    public init(store: Store) { self.store = store }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "submit_task",
            description:
                "Start a background task run by a sub-agent. It may use only the tools you list (a subset of yours). Returns its id; use check_task for the result.",
            properties: [
                "title": .argument("string"), "instructions": .argument("string"), "tools": .stringsArgument,
                "priority": .argument("integer", "0-9, 9 first (default 5)"),
                "max_tokens": .argument(
                    "integer",
                    "Most tokens the task may spend (it also counts against your own limit)"
                ),
                "max_cost_usd": .argument("number", "Most dollars the task may spend"),
            ],
            required: ["title", "instructions"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        var assessment = ToolAssessment(risk: .write)
        let requested = arguments.tools ?? context.toolNames
        // A sub-agent never gains a capability its parent lacks.
        if let extra = requested.first(where: { !context.toolNames.contains($0) }) {
            assessment.refusal = "a task may only use tools you have; '\(extra)' is not one of them"
            assessment.refusalRule = "capabilities"
        }
        return assessment
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        // Written through the store: the supervisor picks the task up from the committed `task.created`.
        let task = try await store.tasks.submit(
            Tasks.Draft(
                title: arguments.title,
                instructions: arguments.instructions,
                agent: context.agent,
                tools: (arguments.tools ?? context.toolNames).filter { context.toolNames.contains($0) },
                priority: arguments.priority ?? 5,
                parent: context.taskID,
                maxTokens: arguments.maxTokens ?? 0,
                maxCostUSD: arguments.maxCostUSD ?? 0,
                // Taint follows delegation: what a tainted run hands off starts tainted.
                tainted: context.tainted
            ),
            actor: .agent(context.agent)
        )
        return "Submitted task \(task.id.rawValue) (\(task.status), priority \(task.priority), depth \(task.depth))."
    }
}

/// `check_task`: a task's status and, once finished, its result.
public struct CheckTask: Tool {
    public struct Arguments: Decodable { var id: String }
    let store: Store
    public init(store: Store) { self.store = store }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "check_task",
            description: "Status and result of a background task.",
            properties: ["id": .argument("string")],
            required: ["id"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .read) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let task = try await store.tasks.get(TaskRecord.ID(arguments.id))
        // The result of work that ran tainted is untrusted content for whoever reads it.
        if task.tainted { OutputTrust.markUntrusted() }
        var text = "\(task.id.rawValue) \(task.status): \(task.title)"
        if let result = task.result { text += "\nResult: \(result)" }
        if let error = task.error { text += "\nError: \(error)" }
        return text
    }
}

/// `cancel_task`: stops a queued or running task.
public struct CancelTask: Tool {
    public struct Arguments: Decodable { var id: String }
    let store: Store
    public init(store: Store) { self.store = store }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "cancel_task",
            description: "Cancel a queued or running background task.",
            properties: ["id": .argument("string")],
            required: ["id"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .write) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let task = try await store.tasks.cancel(TaskRecord.ID(arguments.id), actor: .agent(context.agent))
        return "Task \(task.id.rawValue) is \(task.status)."
    }
}

/// `list_tasks`: recent background tasks.
public struct ListTasks: Tool {
    public struct Arguments: Decodable { var status: String? }
    let store: Store
    public init(store: Store) { self.store = store }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "list_tasks",
            description:
                "List recent background tasks, optionally by status (queued, running, completed, failed, cancelled).",
            properties: ["status": .argument("string")]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .read) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let status = arguments.status.flatMap(TaskStatus.init(rawValue:))
        // A status no task can have lists none, as it did when the store took any text.
        if arguments.status != nil, status == nil { return "No tasks." }
        let tasks = try await store.tasks.list(status: status, limit: 50)
        if tasks.isEmpty { return "No tasks." }
        return tasks.map { "\($0.id.rawValue) \($0.status) p\($0.priority) \($0.title)" }.joined(separator: "\n")
    }
}

/// `schedule_task`: runs a task on a schedule (cron, `@every 10m`, `@at` RFC 3339).
public struct ScheduleTask: Tool {
    public struct Arguments: Decodable {
        var spec: String
        var title: String
        var instructions: String
        var timezone: String?
        var maxTokens: Int?
        var maxCostUSD: Double?

        enum CodingKeys: String, CodingKey {
            case spec, title, instructions, timezone
            case maxTokens = "max_tokens"
            case maxCostUSD = "max_cost_usd"
        }
    }

    let scheduler: Scheduler
    public init(scheduler: Scheduler) { self.scheduler = scheduler }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "schedule_task",
            description:
                "Schedule a background task: spec is a 5-field cron expression, @hourly/@daily/..., '@every 10m' or '@at 2026-12-24T18:00:00Z'.",
            properties: [
                "spec": .argument("string"), "title": .argument("string"), "instructions": .argument("string"),
                "timezone": .argument("string", "IANA name, default UTC"),
                "max_tokens": .argument("integer", "Most tokens each run may spend"),
                "max_cost_usd": .argument("number", "Most dollars each run may spend"),
            ],
            required: ["spec", "title", "instructions"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .write) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        do {
            var request = Scheduler.Request(
                spec: arguments.spec,
                timezone: arguments.timezone ?? "UTC",
                agent: context.agent,
                title: arguments.title,
                instructions: arguments.instructions,
                tools: context.toolNames
            )
            request.maxTokens = arguments.maxTokens ?? 0
            request.maxCostUSD = arguments.maxCostUSD ?? 0
            // A schedule is delegation over time: taint and the delegation depth follow it to every task it fires.
            request.tainted = context.tainted
            request.parent = context.taskID
            let schedule = try await scheduler.add(request, actor: .agent(context.agent))
            let next = schedule.nextFireAt.map(WireFormat.timestamp) ?? "never"
            return "Scheduled \(schedule.id.rawValue); next run \(next)."
        } catch let error as ScheduleRequestError {
            throw ToolArgumentError(description: error.description)
        }
    }
}

/// `unschedule_task`: removes a schedule.
public struct UnscheduleTask: Tool {
    public struct Arguments: Decodable { var id: String }
    let store: Store
    public init(store: Store) { self.store = store }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "unschedule_task",
            description: "Remove a schedule by id.",
            properties: ["id": .argument("string")],
            required: ["id"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .write) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        try await store.schedules.remove(ScheduleRecord.ID(arguments.id), actor: .agent(context.agent))
        return "Removed schedule \(arguments.id)."
    }
}

/// `list_schedules`: every schedule with its next run.
public struct ListSchedules: Tool {
    public struct Arguments: Decodable {}
    let store: Store
    public init(store: Store) { self.store = store }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "list_schedules",
            description: "List schedules and their next run times.",
            properties: [:]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .read) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let schedules = try await store.schedules.list()
        if schedules.isEmpty { return "No schedules." }
        return schedules.map { schedule in
            let when = schedule.spec ?? "on \(schedule.triggerEvent ?? "?")"
            let next = schedule.nextFireAt.map(WireFormat.timestamp) ?? "-"
            return "\(schedule.id.rawValue) [\(when)] next \(next): \(schedule.title)"
        }.joined(separator: "\n")
    }
}
