import Foundation
public import Logging
public import OspreyCore
public import OspreyTools

/// The MCP servers of `[[mcp_servers]]`, started with the gateway: the tools agents may be granted
/// (`server__tool`), and a way to stop the servers at shutdown.
///
/// A server that cannot start or answer (a missing command, a crash, a timeout) is logged and offers no tools; the
/// gateway starts anyway. An agent gets a server's tools only when its `tools` names them or grants `server__*`.
public final class MCPServers: Sendable {
    public let clients: [MCPClient]
    public let tools: [any Tool]
    /// Why each server that offers no tools offers none.
    public let failures: [String: String]

    public init(clients: [MCPClient], tools: [any Tool], failures: [String: String]) {
        self.clients = clients
        self.tools = tools
        self.failures = failures
    }

    /// Starts every server at once and lists its tools. `resolve` turns an `env` value (`${secret:…}`,
    /// `${env:…}` or a literal) into the text the child sees.
    public static func start(
        _ servers: [OspreyConfig.MCPServer],
        directory: String,
        resolve: (String) throws -> String,
        logger: Logger
    ) async -> MCPServers {
        var prepared: [(OspreyConfig.MCPServer, MCPClient)] = []
        var failures: [String: String] = [:]
        for server in servers {
            // The gateway's PATH (so `npx`, `uvx` or a virtualenv's python are found as the user's shell finds
            // them), a HOME in the workspace, and what `env` names: no other variable of the gateway's.
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            var environment = ["PATH": path, "HOME": directory, "LANG": "C.UTF-8"]
            do {
                for (key, value) in server.env { environment[key] = try resolve(value) }
            } catch {
                failures[server.name] = "\(error)"
                logger.error("MCP server not started", metadata: ["mcp.server": "\(server.name)", "error": "\(error)"])
                continue
            }
            let configuration = MCPClient.Configuration(
                name: server.name,
                command: server.command,
                arguments: server.args,
                environment: environment,
                directory: directory,
                timeout: .seconds(server.timeoutSeconds)
            )
            prepared.append((server, MCPClient(configuration, logger: logger)))
        }
        let listed = await withTaskGroup(of: (String, Result<[MCPClient.RemoteTool], any Error>).self) { group in
            for (server, client) in prepared {
                group.addTask {
                    do { return (server.name, .success(try await client.connect())) } catch {
                        return (server.name, .failure(error))
                    }
                }
            }
            var results: [String: Result<[MCPClient.RemoteTool], any Error>] = [:]
            for await (name, result) in group { results[name] = result }
            return results
        }
        var tools: [any Tool] = []
        for (server, client) in prepared {
            switch listed[server.name] {
            case .success(let remote)?:
                var seen: Set<String> = []
                for tool in remote.sorted(by: { $0.name < $1.name }) {
                    if let allow = server.toolsAllow, !allow.contains(tool.name) { continue }
                    if server.toolsDeny.contains(tool.name) { continue }
                    let name = MCPTool.agentName(server: server.name, tool: tool.name)
                    guard seen.insert(name).inserted else { continue }
                    tools.append(MCPTool(client: client, tool: tool, name: name, trusted: server.trust == "trusted"))
                }
                logger.info(
                    "MCP server connected",
                    metadata: [
                        "mcp.server": "\(server.name)", "tools": "\(seen.count)", "server": "\(client.serverInfo)",
                    ]
                )
            case .failure(let error)?:
                failures[server.name] = "\(error)"
                logger.error(
                    "MCP server offers no tools",
                    metadata: ["mcp.server": "\(server.name)", "error": "\(error)"]
                )
            case nil:
                break
            }
        }
        return MCPServers(clients: prepared.map(\.1), tools: tools, failures: failures)
    }

    /// Stops every server (closing its stdin, then ending its process group).
    public func stop() async {
        await withDiscardingTaskGroup { group in
            for client in clients { group.addTask { await client.stop() } }
        }
    }
}
