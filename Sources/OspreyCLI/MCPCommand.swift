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

        /// Osprey's own capabilities as MCP tools (``OspreyToolCatalog``), each a call of the gateway's REST API: its
        /// role checks, validation, policy and ledger.
        static func tools(_ gateway: GatewayClient, agent: String) -> [MCPServerSession.ServedTool] {
            OspreyToolCatalog.tools { name, arguments in
                let answer: JSONValue
                switch name {
                case "ask_agent":
                    var session = try arguments["session"].map { _ in
                        try OspreyToolCatalog.id(arguments, key: "session")
                    }
                    if session == nil {
                        let created = try await gateway.request(
                            .POST,
                            "/api/sessions",
                            body: ["agent": .string(arguments["agent"]?.stringValue ?? agent), "title": "mcp host"]
                        )
                        session = created["id"]?.stringValue
                    }
                    guard let session, let message = arguments["message"]?.stringValue else {
                        throw MCPError.toolFailed("'message' is required")
                    }
                    let reply = try await gateway.request(
                        .POST,
                        "/api/sessions/\(session)/messages",
                        body: ["content": .string(message)]
                    )
                    answer = ["response": reply["response"] ?? "", "session_id": .string(session)]
                case "submit_task": answer = try await gateway.request(.POST, "/api/tasks", body: arguments)
                case "check_task":
                    answer = try await gateway.request(.GET, "/api/tasks/\(try OspreyToolCatalog.id(arguments))")
                case "cancel_task":
                    answer = try await gateway.request(
                        .POST,
                        "/api/tasks/\(try OspreyToolCatalog.id(arguments))/cancel"
                    )
                case "search_memory": answer = try await gateway.request(.POST, "/api/memory/search", body: arguments)
                case "store_memory":
                    let body = (arguments.objectValue ?? [:]).merging(OspreyToolCatalog.storedMemoryMarks) { $1 }
                    answer = try await gateway.request(.POST, "/api/memory", body: .object(body))
                case "list_approvals": answer = try await gateway.request(.GET, "/api/approvals")
                default: throw MCPError.toolFailed("no tool \(name)")
                }
                return answer.canonicalJSON
            }
        }
    }
}
