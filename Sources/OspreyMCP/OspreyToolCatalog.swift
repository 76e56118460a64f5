import Foundation
public import OspreyCore
import Synchronization

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

    /// One of the gateway's operations, by name and fields, as a door calls it; its answer is the REST body. A run
    /// an operation starts (`sessions.send`) reports its steps to `progress`.
    public typealias Operation =
        @Sendable (_ name: String, _ fields: [String: JSONValue], _ progress: MCPProgress) async throws -> JSONValue

    /// The served tools, each a call (or two) of `operation`; `agent` is who `ask_agent` talks to when the host
    /// names nobody.
    public static func tools(agent: String = "default", operation: @escaping Operation) -> [MCPServerSession.ServedTool]
    {
        entries.map { entry in
            MCPServerSession.ServedTool(
                name: entry.name,
                description: entry.description,
                inputSchema: entry.inputSchema
            ) { arguments, progress in
                try await perform(entry.name, arguments, agent: agent, progress: progress, operation: operation)
                    .canonicalJSON
            }
        }
    }

    /// An agent's own tools (`tools.list`'s answer) served to the host, each call a `tools.call` of that agent: the
    /// policy, approvals and ledger as for the agent's own calls. Once a call returned untrusted content, the
    /// session's later calls are judged as a tainted run's (the host's model has read it). Names the catalog uses
    /// stay the catalog's.
    public static func agentTools(_ listed: JSONValue, operation: @escaping Operation) -> [MCPServerSession.ServedTool]
    {
        let agent = listed["agent"] ?? "default"
        let tainted = Mutex(false)
        let taken = Set(entries.map(\.name))
        return (listed["tools"]?.arrayValue ?? []).compactMap { tool -> MCPServerSession.ServedTool? in
            guard let name = tool["name"]?.stringValue, !taken.contains(name) else { return nil }
            return MCPServerSession.ServedTool(
                name: name,
                description: tool["description"]?.stringValue ?? "",
                inputSchema: tool["parameters"] ?? ["type": "object"]
            ) { arguments, progress in
                let answer = try await operation(
                    "tools.call",
                    [
                        "agent": agent, "name": .string(name), "arguments": arguments,
                        "tainted": .bool(tainted.withLock { $0 }),
                    ],
                    progress
                )
                if answer["untrusted"] == true { tainted.withLock { $0 = true } }
                let output = answer["output"]?.stringValue ?? ""
                if answer["is_error"] == true { throw MCPError.toolFailed(output) }
                return output
            }
        }
    }

    static func perform(
        _ tool: String,
        _ arguments: JSONValue,
        agent: String,
        progress: MCPProgress = .silent,
        operation: Operation
    ) async throws -> JSONValue {
        let fields = arguments.objectValue ?? [:]
        func call(_ name: String, _ fields: [String: JSONValue]) async throws -> JSONValue {
            try await operation(name, fields, progress)
        }
        switch tool {
        case "ask_agent":
            guard let message = arguments["message"] else { throw MCPError.toolFailed("'message' is required") }
            var session = try arguments["session"].map { _ in try id(arguments, key: "session") }
            if session == nil {
                let agent = arguments["agent"] ?? .string(agent)
                session = try await call("sessions.create", ["agent": agent, "title": "mcp host"])["id"]?.stringValue
            }
            guard let session else { throw MCPError.toolFailed("no session was created") }
            let reply = try await call("sessions.send", ["session": .string(session), "content": message])
            return ["response": reply["response"] ?? "", "session_id": .string(session)]
        case "submit_task": return try await call("tasks.submit", fields)
        case "check_task": return try await call("tasks.get", ["id": .string(try id(arguments))])
        case "cancel_task": return try await call("tasks.cancel", ["id": .string(try id(arguments))])
        case "search_memory": return try await call("memory.search", fields)
        case "store_memory": return try await call("memory.store", fields.merging(storedMemoryMarks) { $1 })
        case "list_approvals": return try await call("approvals.list", [:])
        default: throw MCPError.toolFailed("no tool \(tool)")
        }
    }

    // MARK: Resources

    /// The resource templates: a memory, a session's transcript, a task and its result.
    public static let resourceTemplates: [JSONValue] = [
        [
            "uriTemplate": "osprey://memory/{id}", "name": "memory", "mimeType": "application/json",
            "description": "One long-term memory: its Markdown content and metadata.",
        ],
        [
            "uriTemplate": "osprey://sessions/{id}/transcript", "name": "session transcript",
            "mimeType": "application/json", "description": "A session's messages, oldest first.",
        ],
        [
            "uriTemplate": "osprey://tasks/{id}", "name": "task", "mimeType": "application/json",
            "description": "A background task: status, transcript session and result.",
        ],
        [
            "uriTemplate": "osprey://workspace/{path}", "name": "workspace file", "mimeType": "text/plain",
            "description": "A file of the workspace, read as the agent's read_file reads it (same jail and policy).",
        ],
    ]

    /// The ledger's verification: whether every event's hash and the chain hold.
    public static let auditURI = "osprey://audit/verify"

    /// The served resources, each read through `operation`: the ledger's verification, the latest sessions and
    /// tasks, and by template any memory, transcript or task, and a workspace file as `agent` reads it.
    public static func resources(
        agent: String = "default",
        operation: @escaping Operation
    ) -> MCPServerSession.ServedResources {
        MCPServerSession.ServedResources(
            list: {
                var listed: [JSONValue] = [
                    [
                        "uri": .string(auditURI), "name": "ledger verification", "mimeType": "application/json",
                        "description": "Whether the hash chain of Osprey's ledger verifies.",
                    ]
                ]
                let sessions = try await operation("sessions.list", ["limit": 20], .silent)
                for session in sessions["sessions"]?.arrayValue ?? [] {
                    guard let id = session["id"]?.stringValue else { continue }
                    let title = session["title"]?.stringValue ?? ""
                    listed.append([
                        "uri": .string("osprey://sessions/\(id)/transcript"), "mimeType": "application/json",
                        "name": .string("transcript \(id)" + (title.isEmpty ? "" : " (\(title))")),
                    ])
                }
                let tasks = try await operation("tasks.list", ["limit": 20], .silent)
                for task in tasks["tasks"]?.arrayValue ?? [] {
                    guard let id = task["id"]?.stringValue else { continue }
                    listed.append([
                        "uri": .string("osprey://tasks/\(id)"), "mimeType": "application/json",
                        "name": .string("task \(id) (\(task["status"]?.stringValue ?? ""))"),
                    ])
                }
                return listed
            },
            templates: resourceTemplates,
            read: { uri in
                let body: JSONValue
                do {
                    switch try route(uri) {
                    case .audit: body = try await operation("audit.verify", [:], .silent)
                    case .memory(let id): body = try await operation("memory.get", ["id": .string(id)], .silent)
                    case .transcript(let id):
                        body = try await operation(
                            "sessions.messages",
                            ["session": .string(id), "limit": 1000],
                            .silent
                        )
                    case .task(let id): body = try await operation("tasks.get", ["id": .string(id)], .silent)
                    case .workspace(let path):
                        let read = try await operation(
                            "tools.call",
                            ["agent": .string(agent), "name": "read_file", "arguments": ["path": .string(path)]],
                            .silent
                        )
                        guard read["is_error"] != true else { throw MCPResourceNotFound(uri: uri) }
                        return [
                            ["uri": .string(uri), "mimeType": "text/plain", "text": read["output"] ?? ""]
                        ]
                    }
                } catch is MCPResourceNotFound {
                    throw MCPResourceNotFound(uri: uri)
                }
                return [["uri": .string(uri), "mimeType": "application/json", "text": .string(body.canonicalJSON)]]
            }
        )
    }

    enum Resource: Equatable {
        case audit
        case memory(String)
        case transcript(String)
        case task(String)
        case workspace(String)
    }

    /// What a URI names; ``MCPResourceNotFound`` unless it is one of the templates with a plain id.
    static func route(_ uri: String) throws -> Resource {
        if uri == auditURI { return .audit }
        guard uri.hasPrefix("osprey://") else { throw MCPResourceNotFound(uri: uri) }
        let parts = uri.dropFirst("osprey://".count).split(separator: "/", omittingEmptySubsequences: false)
        func plain(_ id: Substring) throws -> String {
            guard id.range(of: "^[A-Za-z0-9_-]{1,64}$", options: .regularExpression) != nil else {
                throw MCPResourceNotFound(uri: uri)
            }
            return String(id)
        }
        switch (parts.first, parts.count) {
        case ("memory", 2): return .memory(try plain(parts[1]))
        case ("tasks", 2): return .task(try plain(parts[1]))
        case ("sessions", 3) where parts[2] == "transcript": return .transcript(try plain(parts[1]))
        case ("workspace", 2...):
            // The path as the jail will judge it (percent-decoded); `..` and absolute paths are its to refuse.
            let path = parts.dropFirst().joined(separator: "/")
            guard let decoded = path.removingPercentEncoding, !decoded.isEmpty else {
                throw MCPResourceNotFound(uri: uri)
            }
            return .workspace(decoded)
        default: throw MCPResourceNotFound(uri: uri)
        }
    }

    /// The URIs whose content an event changes, for `resources/subscribe`.
    public static func resourcesChanged(by event: Event) -> [String] {
        var uris = [auditURI]
        let kind = event.type.rawValue
        if let session = event.session, kind.hasPrefix("message.") || kind.hasPrefix("session.") {
            uris.append("osprey://sessions/\(session.rawValue)/transcript")
        }
        if let task = event.task, kind.hasPrefix("task.") { uris.append("osprey://tasks/\(task.rawValue)") }
        if kind.hasPrefix("memory."), let id = event.payload["id"]?.stringValue { uris.append("osprey://memory/\(id)") }
        return uris
    }

    // MARK: Prompts

    /// One prompt per agent: it asks the host's model to hand a request to that agent through `ask_agent`.
    public static func prompts(agents: [(name: String, model: String)]) -> [MCPServerSession.ServedPrompt] {
        agents.map { agent in
            MCPServerSession.ServedPrompt(
                name: agent.name,
                description: "Hand a request to the Osprey agent '\(agent.name)' (model \(agent.model)).",
                arguments: [("request", "What the agent should do", true)]
            ) { arguments in
                let text =
                    "Use Osprey's ask_agent tool with agent \"\(agent.name)\" for the request below, then report "
                    + "its answer.\n\n\(arguments["request"] ?? "")"
                return [["role": "user", "content": ["type": "text", "text": .string(text)]]]
            }
        }
    }
}
