import Foundation
import Hummingbird
import OspreyCore
import OspreyScheduler
import OspreyStore
import OspreyTools

/// `/api/workflows`: the workflow skills (list), a run of one (a task the supervisor runs and resumes), and a run's
/// steps.
struct WorkflowsController {
    let runtime: AgentRuntime
    let tasks: Tasks
    let steps: WorkflowSteps

    var operations: [Operation] { [list, run, show] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/workflows", list)
        routes.bind(.post, "/api/workflows/run", run, body: true, status: { _ in .created })
        routes.bind(.get, "/api/workflows/runs/:id", show, parameters: ["id": "id"])
    }

    /// Checks that workflow skill `name` may run here with `inputs` (a JSON object); whether it is trusted.
    static func check(_ name: String, inputs: String, runtime: AgentRuntime) throws -> Bool {
        let skill = try runtime.workflowSkill(named: name)
        _ = try WorkflowRunner.inputs(of: inputs, for: skill.workflow!)
        return skill.trusted
    }

    static func json(_ skill: Skill) -> JSONValue {
        let workflow = skill.workflow
        let steps = (workflow?.steps ?? []).map { step -> JSONValue in
            let kind =
                switch step.action {
                case .prompt: "prompt"
                case .tool(let name, _): "tool \(name)"
                case .command: "command"
                }
            return [
                "name": .string(step.name), "needs": .array(step.needs.map(JSONValue.string)), "does": .string(kind),
                "acceptance": .array(step.acceptance.map { .string($0.description) }),
            ]
        }
        return [
            "name": .string(skill.name), "description": .string(skill.description), "trusted": .bool(skill.trusted),
            "unavailable": skill.unavailable.map(JSONValue.string) ?? .null,
            "inputs": .array((workflow?.inputs ?? []).map(JSONValue.string)), "steps": .array(steps),
            "acceptance": .array((workflow?.acceptance ?? []).map { .string($0.description) }),
        ]
    }

    var list: Operation {
        Operation("workflows.list", role: .viewer) { (_: NoFields, _) in
            let skills = runtime.skillCatalog().skills.filter { $0.workflow != nil }
            return ["workflows": .array(skills.map(Self.json))]
        }
    }

    struct Run: OperationRequest {
        static let fields: Set<String> = ["name", "inputs", "agent", "priority"]
        let name: String
        let inputs: [String: JSONValue]
        let agent: String
        let priority: Int

        init(_ fields: Fields) throws {
            name = try fields.string("name")
            switch fields["inputs"] {
            case nil, .null?: inputs = [:]
            case .object(let members)?: inputs = members
            default: throw APIError.badRequest("Field 'inputs' must be an object of texts.")
            }
            agent = try fields.optionalString("agent") ?? "default"
            priority = try fields.int("priority", default: 5, range: 0...9)
        }
    }

    /// Submits a run of a workflow skill, checked first (the skill, its inputs, the agent); the task that runs it.
    var run: Operation {
        Operation("workflows.run", role: .operator) { (request: Run, caller) in
            guard runtime.knows(agent: request.agent) else {
                throw APIError.badRequest("No agent named '\(request.agent)'.")
            }
            guard runtime.skillCatalog().skills.contains(where: { $0.name == request.name && $0.workflow != nil })
            else {
                throw APIError(.notFound, "not_found", "No workflow skill named '\(request.name)'.")
            }
            let instructions = JSONValue.object(request.inputs).canonicalJSON
            let trusted: Bool
            do {
                trusted = try Self.check(request.name, inputs: instructions, runtime: runtime)
            } catch let error as WorkflowRunner.Failure {
                throw APIError.badRequest(error.description)
            }
            var draft = Tasks.Draft(
                title: "workflow \(request.name)",
                instructions: instructions,
                agent: request.agent,
                priority: request.priority,
                workflow: request.name
            )
            // A workflow from the workspace is untrusted content: its run starts tainted.
            draft.tainted = !trusted
            return try await tasks.submit(draft, actor: caller.actor).json
        }
    }

    /// A workflow run: its task and each step's state, in the workflow's order (steps not started yet are
    /// `pending`). A spec run's phases and plan steps are shown in the order they last changed.
    var show: Operation {
        Operation("workflows.get", role: .viewer) { (request: RecordID, _) in
            let task = try await tasks.get(TaskRecord.ID(request.id))
            guard task.workflow != nil || task.seed != nil else {
                throw APIError(.notFound, "not_found", "Task \(request.id) is not a workflow or spec run.")
            }
            let states = try await steps.steps(of: task.id)
            let order =
                task.workflow.flatMap { name in
                    try? runtime.skillCatalog().skills.first { $0.name == name }?.workflow?.order()
                } ?? []
            var listed = order.map { step in
                states[step.name]?.json ?? ["name": .string(step.name), "status": "pending"]
            }
            // Steps the skill no longer has (it changed after the run) are still shown.
            listed += states.values.filter { state in !order.contains { $0.name == state.name } }
                .sorted { ($0.updatedAt, $0.name) < ($1.updatedAt, $1.name) }.map(\.json)
            return ["task": task.json, "steps": .array(listed)]
        }
    }
}
