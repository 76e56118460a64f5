import Foundation

extension OspreyConfig {
    /// `[mcp]`: how Osprey serves MCP hosts.
    public struct MCP: Hashable, Sendable {
        /// The agent `ask_agent` talks to when the host names none and its token is bound to no agent.
        public var serveAgent = "default"
    }

    /// An MCP server whose tools agents may be granted (`[[mcp_servers]]`).
    public struct MCPServer: Hashable, Sendable {
        /// Lower-case letters, digits, `-` and `_` (no `__`): the prefix of its tools, `name__tool`.
        public var name: String
        /// `stdio`: the gateway runs `command` with `args` as a supervised child. `http`: it connects to `url`
        /// (Streamable HTTP) through the SSRF guard.
        public var transport = "stdio"
        public var command: String
        /// An `http` server's endpoint.
        public var url: String?
        /// Headers sent to an `http` server (its own API key); values may be `${secret:NAME}` or `${env:VAR}`.
        public var headers: [String: String] = [:]
        /// Private or loopback IP literals an `http` server may be reached at (an explicit allowance; none by
        /// default, so a URL that resolves to one is refused).
        public var privateAddresses: [String] = []
        public var args: [String] = []
        /// The child's whole environment besides `PATH`, `HOME` and `LANG`; values may be `${secret:NAME}` or
        /// `${env:VAR}`, resolved when the server starts.
        public var env: [String: String] = [:]
        /// `untrusted` (the default): its output taints the run that reads it. `trusted`: it does not.
        public var trust = "untrusted"
        /// The server's tools agents may be given (nil: all of them), and those they may never be.
        public var toolsAllow: [String]?
        public var toolsDeny: [String] = []
        public var timeoutSeconds = 60

        public init(name: String, command: String) {
            self.name = name
            self.command = command
        }
    }
}

extension ConfigReader {
    func mcpServers(_ value: JSONValue) throws -> [OspreyConfig.MCPServer] {
        guard let entries = value.arrayValue else {
            throw ConfigError("config.toml: mcp_servers must be an array of tables ([[mcp_servers]])")
        }
        var names: Set<String> = []
        return try entries.enumerated().map { position, entry in
            let section = "mcp_servers[\(position)]"
            guard let table = entry.objectValue else { throw ConfigError("config.toml: \(section) must be a table") }
            let keys = try self.section(
                table,
                name: section,
                known: [
                    "name", "transport", "command", "args", "env", "trust", "tools_allow", "tools_deny",
                    "timeout_seconds", "url", "headers", "private_addresses",
                ]
            )
            guard let name = try keys.string("name"),
                name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil, !name.contains("__")
            else {
                throw ConfigError(
                    "config.toml: \(section).name is required: 1-32 lower-case letters, digits, - and _ (no __)"
                )
            }
            guard names.insert(name).inserted else {
                throw ConfigError("config.toml: two mcp_servers are named '\(name)'")
            }
            let transport = try keys.string("transport") ?? "stdio"
            var server = OspreyConfig.MCPServer(name: name, command: "")
            server.transport = transport
            switch transport {
            case "stdio":
                guard let command = try keys.string("command"), !command.isEmpty else {
                    throw ConfigError("config.toml: \(section).command is required for a stdio server")
                }
                server.command = command
            case "http":
                guard let url = try keys.string("url"),
                    let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                    parsed.host?.isEmpty == false
                else {
                    throw ConfigError("config.toml: \(section).url is required for an http server: an http(s) URL")
                }
                server.url = url
                server.privateAddresses = try keys.strings("private_addresses") ?? []
            default:
                throw ConfigError("config.toml: \(section).transport must be \"stdio\" or \"http\"")
            }
            server.args = try keys.strings("args") ?? []
            server.env = try variables(table, "env", section: section, names: "^[A-Za-z_][A-Za-z0-9_]*$")
            server.headers = try variables(table, "headers", section: section, names: "^[A-Za-z0-9-]{1,64}$")
            var trust = "untrusted"
            try keys.choice("trust", ["trusted", "untrusted"], into: &trust)
            server.trust = trust
            server.toolsAllow = try keys.strings("tools_allow")
            server.toolsDeny = try keys.strings("tools_deny") ?? []
            try keys.read("timeout_seconds", 1...3600, into: &server.timeoutSeconds)
            return server
        }
    }

    /// A table of strings whose keys match `names` (environment variables, header names).
    private func variables(
        _ table: [String: JSONValue],
        _ key: String,
        section: String,
        names: String
    ) throws -> [String: String] {
        guard let value = table[key] else { return [:] }
        guard let entries = value.objectValue else {
            throw ConfigError("config.toml: \(section).\(key) must be a table of strings")
        }
        var result: [String: String] = [:]
        for (name, value) in entries {
            guard let text = value.stringValue, name.range(of: names, options: .regularExpression) != nil else {
                throw ConfigError("config.toml: \(section).\(key).\(name) must be a string with a valid name")
            }
            result[name] = text
        }
        return result
    }
}
