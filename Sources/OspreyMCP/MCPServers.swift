import Foundation
public import Logging
public import OspreyCore
import OspreySandbox
public import OspreyTools
import Synchronization

/// The MCP servers of `[[mcp_servers]]`, started with the gateway: the tools agents may be granted
/// (`server__tool`, and `server__read_resource` / `server__get_prompt` for a server that offers resources or
/// prompts), kept current when a server says its tool list changed, and a way to stop the servers at shutdown.
///
/// The servers connect in the background, all at once, while the gateway starts and answers: a server that is slow
/// to start (or never answers, until its start limit) delays no door. A run whose agent is granted a server's tools
/// waits for that server's connection (``ready(for:)``); other runs do not. A server that cannot start or answer (a
/// missing command, a refused URL, a crash, a timeout) is logged and offers no tools; the gateway runs anyway. An
/// agent gets a server's tools only when its `tools` names them or grants `server__*`.
public final class MCPServers: ToolSource {
    public let clients: [MCPClient]
    private let servers: [OspreyConfig.MCPServer]
    private let state: Mutex<State>
    private let logger: Logger

    struct State {
        /// Each connected server's tools.
        var tools: [String: [any Tool]] = [:]
        /// Why each server that offers no tools offers none.
        var failures: [String: String] = [:]
        /// The servers whose first connection has not ended yet.
        var connecting: Set<String> = []
        /// Each server's first connection, for a run to wait on.
        var connections: [String: Task<Void, Never>] = [:]
    }

    init(servers: [OspreyConfig.MCPServer], clients: [MCPClient], failures: [String: String], logger: Logger) {
        self.servers = servers
        self.clients = clients
        self.state = Mutex(State(failures: failures, connecting: Set(servers.map(\.name))))
        self.logger = logger
    }

    /// Every connected server's tools as they are now, server by server in config order.
    public var tools: [any Tool] {
        let current = state.withLock { $0.tools }
        return servers.flatMap { current[$0.name] ?? [] }
    }

    /// Why each server that offers no tools offers none (a server still connecting is in neither).
    public var failures: [String: String] { state.withLock { $0.failures } }

    /// The servers still making their first connection, in config order.
    public var connecting: [String] {
        let connecting = state.withLock { $0.connecting }
        return servers.map(\.name).filter(connecting.contains)
    }

    /// Waits for the first connection of every server a grant of `names` reaches (`server__tool` or `server__*`).
    public func ready(for names: [String]) async {
        let servers = Set(names.compactMap { name in name.range(of: "__").map { String(name[..<$0.lowerBound]) } })
        let waits = state.withLock { state in servers.compactMap { state.connections[$0] } }
        for connection in waits { await connection.value }
    }

    /// Waits for every server's first connection.
    public func ready() async {
        let waits = state.withLock { Array($0.connections.values) }
        for connection in waits { await connection.value }
    }

    /// Starts every server at once, in the background, and returns at once. `resolve` turns a `${secret:…}` or
    /// `${env:…}` reference in an `env` or `headers` value into its text.
    public static func start(
        _ servers: [OspreyConfig.MCPServer],
        directory: String,
        resolve: (String) throws -> String,
        logger: Logger
    ) -> MCPServers {
        var prepared: [(OspreyConfig.MCPServer, MCPClient)] = []
        var failures: [String: String] = [:]
        for server in servers {
            do {
                prepared.append((server, MCPClient(try configuration(server, directory, resolve), logger: logger)))
            } catch {
                failures[server.name] = "\(error)"
                logger.error("MCP server not started", metadata: ["mcp.server": "\(server.name)", "error": "\(error)"])
            }
        }
        let started = MCPServers(
            servers: prepared.map(\.0),
            clients: prepared.map(\.1),
            failures: failures,
            logger: logger
        )
        started.state.withLock { state in
            for (server, client) in prepared {
                state.connections[server.name] = Task { await started.connect(server, client) }
            }
        }
        return started
    }

    /// A server's first connection: its tools listed, or why there are none; then it is followed for changes.
    private func connect(_ server: OspreyConfig.MCPServer, _ client: MCPClient) async {
        do {
            let offered = try await Self.tools(of: server, client)
            state.withLock {
                $0.tools[server.name] = offered
                $0.connecting.remove(server.name)
            }
            logger.info(
                "MCP server connected",
                metadata: [
                    "mcp.server": "\(server.name)", "tools": "\(offered.count)", "server": "\(client.serverInfo)",
                ]
            )
        } catch {
            state.withLock {
                $0.failures[server.name] = "\(error)"
                $0.connecting.remove(server.name)
            }
            logger.error("MCP server offers no tools", metadata: ["mcp.server": "\(server.name)", "error": "\(error)"])
            return
        }
        client.whenToolsChange { [weak self] in
            Task { await self?.refresh(server, client) }
        }
        // A change said between the listing and the line above would otherwise be missed.
        if client.toolsChanged { await refresh(server, client) }
    }

    /// How to reach `server`: a child run with a scrubbed environment, or a URL through the SSRF guard.
    static func configuration(
        _ server: OspreyConfig.MCPServer,
        _ directory: String,
        _ resolve: (String) throws -> String
    ) throws -> MCPClient.Configuration {
        if server.transport == "http" {
            guard let url = server.url.flatMap(URL.init(string:)), let host = url.host else {
                throw MCPError.unavailable("MCP server '\(server.name)' has no valid url")
            }
            return MCPClient.Configuration(
                name: server.name,
                url: url,
                headers: try server.headers.mapValues { try expand($0, resolve) },
                // The operator named this host by configuring it; a private address needs its own allowance.
                egress: EgressPolicy(
                    allowedHosts: [host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))],
                    allowedPrivateAddresses: server.privateAddresses
                ),
                timeout: .seconds(server.timeoutSeconds)
            )
        }
        // The gateway's PATH (so `npx`, `uvx` or a virtualenv's python are found as the user's shell finds them), a
        // HOME in the workspace, and what `env` names: no other variable of the gateway's.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var environment = ["PATH": path, "HOME": directory, "LANG": "C.UTF-8"]
        for (key, value) in server.env { environment[key] = try expand(value, resolve) }
        return MCPClient.Configuration(
            name: server.name,
            command: server.command,
            arguments: server.args,
            environment: environment,
            directory: directory,
            timeout: .seconds(server.timeoutSeconds)
        )
    }

    /// `text` with each `${secret:NAME}` or `${env:VAR}` in it replaced by what `resolve` makes of it.
    static func expand(_ text: String, _ resolve: (String) throws -> String) throws -> String {
        var output = ""
        var rest = text[...]
        while let start = rest.range(of: "${"), let end = rest[start.upperBound...].firstIndex(of: "}") {
            let reference = String(rest[start.lowerBound...end])
            output += rest[..<start.lowerBound]
            output +=
                reference.hasPrefix("${secret:") || reference.hasPrefix("${env:") ? try resolve(reference) : reference
            rest = rest[rest.index(after: end)...]
        }
        return output + rest
    }

    /// The tools `client` offers agents under the server's rules: its own tools (allowed, not denied, each once),
    /// then the resource and prompt tools when it offers those.
    static func tools(of server: OspreyConfig.MCPServer, _ client: MCPClient) async throws -> [any Tool] {
        let remote = try await client.connect()
        let trusted = server.trust == "trusted"
        var seen: Set<String> = []
        var tools: [any Tool] = []
        for tool in remote.sorted(by: { $0.name < $1.name }) {
            if let allow = server.toolsAllow, !allow.contains(tool.name) { continue }
            if server.toolsDeny.contains(tool.name) { continue }
            let name = MCPTool.agentName(server: server.name, tool: tool.name)
            guard seen.insert(name).inserted else { continue }
            tools.append(MCPTool(client: client, tool: tool, name: name, trusted: trusted))
        }
        for kind in MCPContentTool.Kind.allCases where client.offers(kind.capability) {
            let tool = try await MCPContentTool(kind, client: client, trusted: trusted)
            if seen.insert(tool.definition.name).inserted { tools.append(tool) }
        }
        return tools
    }

    /// Lists a server's tools again after it said they changed; runs that start later see the new list.
    func refresh(_ server: OspreyConfig.MCPServer, _ client: MCPClient) async {
        do {
            let offered = try await Self.tools(of: server, client)
            state.withLock { $0.tools[server.name] = offered }
            logger.info(
                "MCP server's tools changed",
                metadata: ["mcp.server": "\(server.name)", "tools": "\(offered.count)"]
            )
        } catch {
            logger.warning(
                "MCP server's changed tools could not be listed",
                metadata: ["mcp.server": "\(server.name)", "error": "\(error)"]
            )
        }
    }

    /// Stops every server (closing its stdin and ending its process group, or ending the HTTP session); a server
    /// still connecting stops connecting.
    public func stop() async {
        for connection in state.withLock({ Array($0.connections.values) }) { connection.cancel() }
        await withDiscardingTaskGroup { group in
            for client in clients { group.addTask { await client.stop() } }
        }
    }
}
