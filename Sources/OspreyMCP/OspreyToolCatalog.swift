import Foundation
public import OspreyCore

/// The tools Osprey offers MCP hosts, described once for every door that serves them (`osprey mcp serve` over
/// stdio, `/api/mcp` over Streamable HTTP); each door supplies what a call does, through the gateway's API or its
/// operation table.
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

    /// The fields `store_memory` adds: what an MCP host stores is untrusted content from a tool.
    public static let storedMemoryMarks: [String: JSONValue] = [
        "source": "tool", "trust": "untrusted", "provenance": "mcp host",
    ]

    /// A record id from the arguments, refused unless it is a plain id (doors put it in paths).
    public static func id(_ arguments: JSONValue, key: String = "id") throws -> String {
        guard let id = arguments[key]?.stringValue,
            id.range(of: "^[A-Za-z0-9_-]{1,64}$", options: .regularExpression) != nil
        else { throw MCPError.toolFailed("'\(key)' must be an id: 1-64 letters, digits, _ and -") }
        return id
    }

    /// The served tools: each entry with the call `perform` makes for it (`perform(name, arguments)`).
    public static func tools(
        _ perform: @escaping @Sendable (String, JSONValue) async throws -> String
    )
        -> [MCPServerSession.ServedTool]
    {
        entries.map { entry in
            MCPServerSession.ServedTool(
                name: entry.name,
                description: entry.description,
                inputSchema: entry.inputSchema
            ) {
                try await perform(entry.name, $0)
            }
        }
    }
}
