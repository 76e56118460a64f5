import Foundation
public import OspreyCore

/// The tools Osprey offers MCP hosts, written once for every door that serves them (`osprey mcp serve` over stdio,
/// `/api/mcp` over Streamable HTTP). Each tool is one or two of the gateway's operations (`sessions.create`,
/// `tasks.get`, ...); a door supplies only how an operation is called: through the REST API, or on the operation
/// table itself.
public enum OspreyToolCatalog {
    public struct Entry: Sendable {
        public var name: String
        public var description: String
        public var inputSchema: JSONValue
    }

    static func object(_ properties: [String: JSONValue], required: [String] = []) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map(JSONValue.string)) }
        return .object(schema)
    }

    public static let entries: [Entry] = [
        Entry(
            name: "ask_agent",
            description: "Send a message to an Osprey agent and get its answer. Without a session a new one is "
                + "started; pass the returned session_id to continue the conversation.",
            inputSchema: object(
                [
                    "message": .argument("string"), "agent": .argument("string", "Agent name"),
                    "session": .argument("string", "A session_id from an earlier answer"),
                ],
                required: ["message"]
            )
        ),
        Entry(
            name: "submit_task",
            description: "Hand an Osprey agent a background task; returns its id (see check_task).",
            inputSchema: object(
                ["title": .argument("string"), "instructions": .argument("string"), "agent": .argument("string")],
                required: ["title", "instructions"]
            )
        ),
        Entry(
            name: "check_task",
            description: "A background task's status and, once finished, its result.",
            inputSchema: object(["id": .argument("string")], required: ["id"])
        ),
        Entry(
            name: "cancel_task",
            description: "Cancel a queued or running background task.",
            inputSchema: object(["id": .argument("string")], required: ["id"])
        ),
        Entry(
            name: "search_memory",
            description: "Search Osprey's long-term memory by meaning and keywords.",
            inputSchema: object(["query": .argument("string"), "limit": .argument("integer")], required: ["query"])
        ),
        Entry(
            name: "store_memory",
            description: "Store a memory in Osprey (kept as untrusted content from an MCP host).",
            inputSchema: object(["content": .argument("string"), "title": .argument("string")], required: ["content"])
        ),
        Entry(
            name: "list_approvals",
            description: "Tool calls of Osprey's agents that wait for a human.",
            inputSchema: object([:])
        ),
    ]

    /// What a host is told about the server when it initializes.
    public static let instructions =
        "Osprey, a self-hosted agent OS: ask its agents, hand them background tasks, search and store long-term "
        + "memory. Every call runs under the gateway's policy and is in its ledger."

    /// The fields `store_memory` adds: what an MCP host stores is untrusted content from a tool.
    static let storedMemoryMarks: [String: JSONValue] = [
        "source": "tool", "trust": "untrusted", "provenance": "mcp host",
    ]

    /// A record id from the arguments, refused unless it is a plain id (the REST door puts it in a path).
    static func id(_ arguments: JSONValue, key: String = "id") throws -> String {
        guard let id = arguments[key]?.stringValue,
            id.range(of: "^[A-Za-z0-9_-]{1,64}$", options: .regularExpression) != nil
        else { throw MCPError.toolFailed("'\(key)' must be an id: 1-64 letters, digits, _ and -") }
        return id
    }

    /// One of the gateway's operations, by name and fields, as a door calls it; its answer is the REST body.
    public typealias Operation = @Sendable (_ name: String, _ fields: [String: JSONValue]) async throws -> JSONValue

    /// The served tools, each a call (or two) of `operation`; `agent` is who `ask_agent` talks to when the host
    /// names nobody.
    public static func tools(agent: String = "default", operation: @escaping Operation) -> [MCPServerSession.ServedTool]
    {
        entries.map { entry in
            MCPServerSession.ServedTool(
                name: entry.name,
                description: entry.description,
                inputSchema: entry.inputSchema
            ) {
                try await perform(entry.name, $0, agent: agent, operation: operation).canonicalJSON
            }
        }
    }

    static func perform(
        _ tool: String,
        _ arguments: JSONValue,
        agent: String,
        operation: Operation
    ) async throws
        -> JSONValue
    {
        let fields = arguments.objectValue ?? [:]
        switch tool {
        case "ask_agent":
            guard let message = arguments["message"] else { throw MCPError.toolFailed("'message' is required") }
            var session = try arguments["session"].map { _ in try id(arguments, key: "session") }
            if session == nil {
                let agent = arguments["agent"] ?? .string(agent)
                session = try await operation("sessions.create", ["agent": agent, "title": "mcp host"])["id"]?
                    .stringValue
            }
            guard let session else { throw MCPError.toolFailed("no session was created") }
            let reply = try await operation("sessions.send", ["session": .string(session), "content": message])
            return ["response": reply["response"] ?? "", "session_id": .string(session)]
        case "submit_task": return try await operation("tasks.submit", fields)
        case "check_task": return try await operation("tasks.get", ["id": .string(try id(arguments))])
        case "cancel_task": return try await operation("tasks.cancel", ["id": .string(try id(arguments))])
        case "search_memory": return try await operation("memory.search", fields)
        case "store_memory": return try await operation("memory.store", fields.merging(storedMemoryMarks) { $1 })
        case "list_approvals": return try await operation("approvals.list", [:])
        default: throw MCPError.toolFailed("no tool \(tool)")
        }
    }
}
