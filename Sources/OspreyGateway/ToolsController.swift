import Foundation
import Hummingbird
import OspreyAgent
import OspreyCore
import OspreyStore

/// `/api/tools`: an agent's tools, listed and called by a client outside a run (an MCP host, a script), through the
/// same check point as the model's calls: the policy, approvals, the ledger.
///
/// The agent is the request's `agent`, else the token's bound agent, else `default`; a token bound to an agent reaches
/// no other agent's tools. Only Osprey's own tools are offered: another MCP server's tools (`server__tool`) stay
/// with the agents granted them.
struct ToolsController {
    let runtime: AgentRuntime

    var operations: [Operation] { [list, call] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/tools", list, query: ["agent"])
        routes.bind(.post, "/api/tools/call", call, body: true)
    }

    /// The agent a request acts as, or why it may not.
    func agent(_ requested: String?, caller: Caller) async throws -> Agent {
        let bound = caller.token?.agent
        let name = requested ?? bound ?? "default"
        if let bound, bound != name {
            throw APIError(.forbidden, "forbidden", "This token acts for agent '\(bound)' only.")
        }
        guard runtime.knows(agent: name) else { throw APIError.badRequest("no agent named '\(name)' in config.toml") }
        return try await runtime.agent(named: name)
    }

    /// The agent's tools a client may call: its own (no `server__` tools, no `search_tools`).
    static func served(_ agent: Agent) -> [ToolDefinition] {
        agent.toolDefinitions.filter { !$0.name.contains("__") }
    }

    struct List: OperationRequest {
        static let fields: Set<String> = ["agent"]
        let agent: String?
        init(_ fields: Fields) throws { agent = try fields.optionalString("agent") }
    }

    var list: Operation {
        Operation("tools.list", role: .viewer) { (request: List, caller) in
            let agent = try await agent(request.agent, caller: caller)
            let tools = Self.served(agent).map { tool -> JSONValue in
                ["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.parameters]
            }
            return ["agent": .string(agent.name), "tools": .array(tools)]
        }
    }

    struct Call: OperationRequest {
        static let fields: Set<String> = ["agent", "name", "arguments", "tainted"]
        let agent: String?
        let name: String
        let arguments: JSONValue
        let tainted: Bool
        init(_ fields: Fields) throws {
            agent = try fields.optionalString("agent")
            name = try fields.string("name")
            arguments = fields["arguments"] ?? [:]
            guard arguments.objectValue != nil else {
                throw APIError.badRequest("Field 'arguments' must be an object.")
            }
            switch fields["tainted"] {
            case nil, .null?: tainted = false
            case .bool(let value)?: tainted = value
            default: throw APIError.badRequest("Field 'tainted' must be a boolean.")
            }
        }
    }

    /// Calls the tool; the answer is its output, whether it failed, and whether the output is untrusted. `tainted`
    /// says the client has untrusted content in its context (the policy then asks a human for more).
    var call: Operation {
        Operation("tools.call", role: .operator) { (request: Call, caller) in
            let agent = try await agent(request.agent, caller: caller)
            guard Self.served(agent).contains(where: { $0.name == request.name }) else {
                throw APIError(.notFound, "not_found", "Agent '\(agent.name)' has no tool '\(request.name)' to call.")
            }
            let result = try await agent.callTool(
                request.name,
                arguments: request.arguments.canonicalJSON,
                tainted: request.tainted,
                actor: caller.actor
            ) { message in
                // A tool's progress reaches a door that streams it (an MCP host's progress notifications).
                Task {
                    try? await caller.onRunEvent(Session.ID(""), .toolProgress(callID: .init(""), message: message))
                }
            }
            return [
                "output": .string(result.output), "is_error": .bool(result.isError),
                "untrusted": .bool(result.untrusted),
            ]
        }
    }
}
