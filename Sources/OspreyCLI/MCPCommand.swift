import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore
import OspreyGateway
import OspreyMCP
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `osprey mcp`: Osprey as an MCP server for MCP hosts.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Osprey as an MCP server for MCP hosts (Claude Code, Cursor, Zed, ...).",
        subcommands: [Serve.self]
    )

    /// `osprey mcp serve`: an MCP server on stdin/stdout, bridged to the running gateway.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve MCP over stdio, bridged to the running gateway (for an MCP host's config).",
            discussion: """
                In the host's config: {"command": "osprey", "args": ["mcp", "serve"]}. It needs a running gateway \
                (it refuses to start without one) and acts with the home's token, or with $OSPREY_TOKEN when set \
                (a narrower token: an operator token bound to an agent, say). Logs go to stderr only.
                """
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "The agent ask_agent talks to when the host names none.") var agent = "default"

        func run() async throws {
            let gateway: GatewayClient
            do {
                gateway = try GatewayClient(
                    home: options.resolved,
                    token: ProcessInfo.processInfo.environment["OSPREY_TOKEN"]
                )
                _ = try await gateway.request(.GET, "/api/status")
            } catch {
                FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                throw ExitCode(1)
            }
            let output = Mutex(())
            let session = MCPServerSession(
                tools: Self.tools(gateway, agent: agent),
                version: Kernel.version,
                instructions: "Osprey, a self-hosted agent OS: ask its agents, hand them background tasks, search "
                    + "and store long-term memory. Every call runs under the gateway's policy and is in its ledger.",
                send: { message in
                    var bytes = message.canonicalBytes
                    bytes.append(0x0A)
                    output.withLock { _ in
                        bytes.withUnsafeBytes { buffer in
                            var offset = 0
                            while offset < buffer.count {
                                let written = write(1, buffer.baseAddress! + offset, buffer.count - offset)
                                if written < 0 && errno == EINTR { continue }
                                if written <= 0 { return }
                                offset += written
                            }
                        }
                    }
                }
            )
            // stdin is read by a thread that blocks on it (no polling); lines go to the session as they come.
            let (lines, sink) = AsyncStream<Result<[UInt8], StdioConnectionError>>.makeStream()
            Thread.detachNewThread {
                StdioConnection.readLines(0) { sink.yield($0) }
                sink.finish()
            }
            for await line in lines {
                switch line {
                case .success(let bytes):
                    if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                    session.receive(line: bytes)
                case .failure(let error):
                    FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                    session.refuse("\(error)")
                }
            }
            await session.drain()
        }

        /// Osprey's own capabilities as MCP tools, each a call of the gateway's API (its policy, its ledger).
        static func tools(_ gateway: GatewayClient, agent: String) -> [MCPServerSession.ServedTool] {
            @Sendable func text(_ value: JSONValue) -> String { value.canonicalJSON }
            return [
                .init(
                    name: "ask_agent",
                    description: "Send a message to an Osprey agent and get its answer. Without a session a new one is "
                        + "started; pass the returned session_id to continue the conversation.",
                    inputSchema: [
                        "type": "object",
                        "properties": [
                            "message": .argument("string"),
                            "agent": .argument("string", "Agent name (default: \(agent))"),
                            "session": .argument("string", "A session_id from an earlier answer"),
                        ],
                        "required": ["message"],
                    ]
                ) { arguments in
                    var session = try arguments["session"].map { _ in try Self.id(arguments, key: "session") }
                    if session == nil {
                        let created = try await gateway.request(
                            .POST,
                            "/api/sessions",
                            body: ["agent": .string(arguments["agent"]?.stringValue ?? agent), "title": "mcp host"]
                        )
                        session = created["id"]?.stringValue
                    }
                    guard let session, let message = arguments["message"]?.stringValue else {
                        throw CLIError("'message' is required")
                    }
                    let answer = try await gateway.request(
                        .POST,
                        "/api/sessions/\(session)/messages",
                        body: ["content": .string(message)]
                    )
                    return text(["response": answer["response"] ?? "", "session_id": .string(session)])
                },
                .init(
                    name: "submit_task",
                    description: "Hand an Osprey agent a background task; returns its id (see check_task).",
                    inputSchema: [
                        "type": "object",
                        "properties": [
                            "title": .argument("string"), "instructions": .argument("string"),
                            "agent": .argument("string"),
                        ],
                        "required": ["title", "instructions"],
                    ]
                ) { arguments in
                    text(try await gateway.request(.POST, "/api/tasks", body: arguments))
                },
                .init(
                    name: "check_task",
                    description: "A background task's status and, once finished, its result.",
                    inputSchema: ["type": "object", "properties": ["id": .argument("string")], "required": ["id"]]
                ) { arguments in
                    text(try await gateway.request(.GET, "/api/tasks/\(try Self.id(arguments))"))
                },
                .init(
                    name: "cancel_task",
                    description: "Cancel a queued or running background task.",
                    inputSchema: ["type": "object", "properties": ["id": .argument("string")], "required": ["id"]]
                ) { arguments in
                    text(try await gateway.request(.POST, "/api/tasks/\(try Self.id(arguments))/cancel"))
                },
                .init(
                    name: "search_memory",
                    description: "Search Osprey's long-term memory by meaning and keywords.",
                    inputSchema: [
                        "type": "object", "properties": ["query": .argument("string"), "limit": .argument("integer")],
                        "required": ["query"],
                    ]
                ) { arguments in
                    text(try await gateway.request(.POST, "/api/memory/search", body: arguments))
                },
                .init(
                    name: "store_memory",
                    description: "Store a memory in Osprey (kept as untrusted content from an MCP host).",
                    inputSchema: [
                        "type": "object", "properties": ["content": .argument("string"), "title": .argument("string")],
                        "required": ["content"],
                    ]
                ) { arguments in
                    var body = arguments.objectValue ?? [:]
                    body["source"] = "tool"
                    body["trust"] = "untrusted"
                    body["provenance"] = "mcp host"
                    return text(try await gateway.request(.POST, "/api/memory", body: .object(body)))
                },
                .init(
                    name: "list_approvals",
                    description: "Tool calls of Osprey's agents that wait for a human.",
                    inputSchema: ["type": "object", "properties": [:]]
                ) { _ in
                    text(try await gateway.request(.GET, "/api/approvals"))
                },
            ]
        }

        /// A record id from the arguments, refused unless it is a plain id (it becomes part of a URL path).
        static func id(_ arguments: JSONValue, key: String = "id") throws -> String {
            guard let id = arguments[key]?.stringValue,
                id.range(of: "^[A-Za-z0-9_-]{1,64}$", options: .regularExpression) != nil
            else { throw CLIError("'\(key)' must be an id: 1-64 letters, digits, _ and -") }
            return id
        }
    }
}
