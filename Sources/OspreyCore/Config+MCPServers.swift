import Foundation

extension OspreyConfig {
    /// An MCP server whose tools agents may be granted (`[[mcp_servers]]`).
    public struct MCPServer: Hashable, Sendable {
        /// Lower-case letters, digits, `-` and `_` (no `__`): the prefix of its tools, `name__tool`.
        public var name: String
        /// `stdio`: the gateway runs `command` with `args` as a supervised child.
        public var transport = "stdio"
        public var command: String
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
            try checkKeys(
                table,
                section: section,
                known: [
                    "name", "transport", "command", "args", "env", "trust", "tools_allow", "tools_deny",
                    "timeout_seconds",
                ]
            )
            guard let name = try string(table, "name", section: section),
                name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil, !name.contains("__")
            else {
                throw ConfigError(
                    "config.toml: \(section).name is required: 1-32 lower-case letters, digits, - and _ (no __)"
                )
            }
            guard names.insert(name).inserted else {
                throw ConfigError("config.toml: two mcp_servers are named '\(name)'")
            }
            let transport = try string(table, "transport", section: section) ?? "stdio"
            guard transport == "stdio" else {
                throw ConfigError(
                    "config.toml: \(section).transport \"\(transport)\" is not supported yet: only \"stdio\""
                )
            }
            guard let command = try string(table, "command", section: section), !command.isEmpty else {
                throw ConfigError("config.toml: \(section).command is required for a stdio server")
            }
            var server = OspreyConfig.MCPServer(name: name, command: command)
            server.args = try strings(table, "args", section: section) ?? []
            if let env = table["env"] {
                guard let variables = env.objectValue else {
                    throw ConfigError("config.toml: \(section).env must be a table of strings")
                }
                for (key, value) in variables {
                    guard let text = value.stringValue,
                        key.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil
                    else {
                        throw ConfigError("config.toml: \(section).env.\(key) must be a string with a valid name")
                    }
                    server.env[key] = text
                }
            }
            let trust = try string(table, "trust", section: section) ?? "untrusted"
            guard ["trusted", "untrusted"].contains(trust) else {
                throw ConfigError("config.toml: \(section).trust must be \"trusted\" or \"untrusted\"")
            }
            server.trust = trust
            server.toolsAllow = try strings(table, "tools_allow", section: section)
            server.toolsDeny = try strings(table, "tools_deny", section: section) ?? []
            if let seconds = try int(table, "timeout_seconds", section: section, range: 1...3600) {
                server.timeoutSeconds = seconds
            }
            return server
        }
    }
}
