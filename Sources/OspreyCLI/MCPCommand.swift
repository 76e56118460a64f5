import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyMCP
import Synchronization

/// `osprey mcp`: Osprey as an MCP server for MCP hosts.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Osprey as an MCP server for MCP hosts (Claude Code, Cursor, Zed, ...).",
        subcommands: [Serve.self]
    )

    /// `osprey mcp serve`: an MCP server on stdin/stdout, bridged to the running gateway's `/mcp`.
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
            try await Self.bridge(to: gateway)
        }

        /// Carries the host's lines to the gateway's `/mcp` and every message back as a line: the session, its
        /// tools, resources, prompts, progress and policy all live in the gateway, once for both doors.
        static func bridge(to gateway: GatewayClient) async throws {
            let output = Mutex(())
            @Sendable func write(_ message: JSONValue) {
                output.withLock { _ in _ = StdioConnection.writeLine(message, to: 1) }
            }
            guard let url = URL(string: gateway.baseURL + "/mcp") else { throw ExitCode(1) }
            let connection = try StreamableHTTPConnection(
                url: url,
                headers: ["Authorization": "Bearer \(gateway.token)"],
                egress: nil,
                onMessage: { message in
                    switch message {
                    case .success(let value): write(value)
                    case .failure(let error):
                        FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                    }
                },
                onExit: { reason in
                    FileHandle.standardError.write(Data("osprey mcp serve: the gateway \(reason)\n".utf8))
                }
            )
            // stdin is read by a thread that blocks on it (no polling); lines go to the gateway as they come.
            let (lines, sink) = AsyncStream<Result<[UInt8], StdioConnectionError>>.makeStream()
            Thread.detachNewThread {
                StdioConnection.readLines(0) { sink.yield($0) }
                sink.finish()
            }
            for await line in lines {
                switch line {
                case .success(let bytes):
                    let message = try? JSONValue.parse(bytes)
                    connection.send(
                        bytes: ByteBuffer(bytes: bytes),
                        id: message?["method"] != nil ? message?["id"] : nil,
                        initialize: message?["method"] == "initialize"
                    )
                case .failure(let error):
                    FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                    write(["jsonrpc": "2.0", "id": .null, "error": ["code": -32600, "message": .string("\(error)")]])
                }
            }
            // The host closed its input: the answers in flight still reach it, then the session ends.
            await connection.drain()
            await connection.stop()
        }
    }
}
