import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore
import OspreyGateway
import OspreyMCP
import Synchronization

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
                tools: OspreyToolCatalog.tools(agent: agent) { name, fields in
                    try await Self.call(name, fields, on: gateway)
                },
                version: Kernel.version,
                instructions: OspreyToolCatalog.instructions,
                send: { message in output.withLock { _ in _ = StdioConnection.writeLine(message, to: 1) } }
            )
            // stdin is read by a thread that blocks on it (no polling); lines go to the session as they come.
            let (lines, sink) = AsyncStream<Result<[UInt8], StdioConnectionError>>.makeStream()
            Thread.detachNewThread {
                StdioConnection.readLines(0) { sink.yield($0) }
                sink.finish()
            }
            for await line in lines {
                switch line {
                case .success(let bytes): session.receive(line: bytes)
                case .failure(let error):
                    FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                    session.refuse("\(error)")
                }
            }
            await session.drain()
        }

        /// An operation of the catalog's tools, as the REST request that binds it: its role checks, validation,
        /// policy and ledger are the gateway's. Ids in paths were checked by the catalog (plain ids only).
        static func call(
            _ operation: String,
            _ fields: [String: JSONValue],
            on gateway: GatewayClient
        ) async throws
            -> JSONValue
        {
            let id = fields["id"]?.stringValue ?? ""
            switch operation {
            case "sessions.create": return try await gateway.request(.POST, "/api/sessions", body: .object(fields))
            case "sessions.send":
                let session = fields["session"]?.stringValue ?? ""
                return try await gateway.request(
                    .POST,
                    "/api/sessions/\(session)/messages",
                    body: ["content": fields["content"] ?? .null]
                )
            case "tasks.submit": return try await gateway.request(.POST, "/api/tasks", body: .object(fields))
            case "tasks.get": return try await gateway.request(.GET, "/api/tasks/\(id)")
            case "tasks.cancel": return try await gateway.request(.POST, "/api/tasks/\(id)/cancel")
            case "memory.search": return try await gateway.request(.POST, "/api/memory/search", body: .object(fields))
            case "memory.store": return try await gateway.request(.POST, "/api/memory", body: .object(fields))
            case "approvals.list": return try await gateway.request(.GET, "/api/approvals")
            default: throw MCPError.toolFailed("no operation \(operation)")
            }
        }
    }
}
