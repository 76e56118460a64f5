import Foundation

extension OspreyConfig {
    /// `[a2a]`: how Osprey serves other agents over the Agent2Agent protocol.
    public struct A2A: Hashable, Sendable {
        /// Whether `/.well-known/agent-card.json` is served without a token (it names the agents and their
        /// descriptions, nothing else). Off by default: a viewer token reads it.
        public var publicCard = false
        /// Whether a message that arrives over A2A is trusted content. Off by default: another agent's words start
        /// an untrusted (tainted) task, whatever token carried them.
        public var trustInbound = false
        /// The agent a message goes to when it names none and its token is bound to no agent.
        public var agent = "default"
    }

    /// A remote A2A agent the `call_agent` tool may delegate to (`[[a2a_agents]]`).
    public struct A2AAgent: Hashable, Sendable {
        /// Lower-case letters, digits, `-` and `_`: what the model names it by.
        public var name: String
        /// Its JSON-RPC endpoint (the `url` of its agent card).
        public var url: String
        /// What it is good for, shown to the model.
        public var description = ""
        /// The bearer token sent to it: `${secret:NAME}` or `${env:VAR}`, resolved when the call is made.
        public var token: String?
        /// Private or loopback IP literals it may be reached at (none by default, so a URL that resolves to one is
        /// refused by the SSRF guard).
        public var privateAddresses: [String] = []
        /// How long one delegation may take, start to answer.
        public var timeoutSeconds = 300
        /// `untrusted` (the default): its answer taints the run that reads it. `trusted`: it does not.
        public var trust = "untrusted"

        public init(name: String, url: String) {
            self.name = name
            self.url = url
        }
    }
}

extension ConfigReader {
    func a2a(_ table: [String: JSONValue]) throws -> OspreyConfig.A2A {
        let section = try section(table, name: "a2a", known: ["public_card", "trust_inbound", "agent"])
        var a2a = OspreyConfig.A2A()
        try section.read("public_card", into: &a2a.publicCard)
        try section.read("trust_inbound", into: &a2a.trustInbound)
        try section.read("agent", into: &a2a.agent)
        return a2a
    }

    func a2aAgents(_ value: JSONValue) throws -> [OspreyConfig.A2AAgent] {
        guard let entries = value.arrayValue else {
            throw ConfigError("config.toml: a2a_agents must be an array of tables ([[a2a_agents]])")
        }
        var names: Set<String> = []
        return try entries.enumerated().map { position, entry in
            let section = "a2a_agents[\(position)]"
            guard let table = entry.objectValue else { throw ConfigError("config.toml: \(section) must be a table") }
            let keys = try self.section(
                table,
                name: section,
                known: ["name", "url", "description", "token", "private_addresses", "timeout_seconds", "trust"]
            )
            guard let name = try keys.string("name"),
                name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil
            else {
                throw ConfigError("config.toml: \(section).name is required: 1-32 lower-case letters, digits, - and _")
            }
            guard names.insert(name).inserted else {
                throw ConfigError("config.toml: two a2a_agents are named '\(name)'")
            }
            guard let url = try keys.string("url"), let parsed = URL(string: url),
                ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false
            else {
                throw ConfigError("config.toml: \(section).url is required: the agent's http(s) JSON-RPC endpoint")
            }
            var agent = OspreyConfig.A2AAgent(name: name, url: url)
            agent.description = try keys.string("description") ?? ""
            agent.token = try keys.string("token")
            if let token = agent.token, !(token.hasPrefix("${secret:") || token.hasPrefix("${env:")) {
                throw ConfigError(
                    "config.toml: \(section).token must be ${secret:NAME} or ${env:VAR}, never the token in clear"
                )
            }
            agent.privateAddresses = try keys.strings("private_addresses") ?? []
            try keys.read("timeout_seconds", 1...3600, into: &agent.timeoutSeconds)
            var trust = "untrusted"
            try keys.choice("trust", ["trusted", "untrusted"], into: &trust)
            agent.trust = trust
            return agent
        }
    }
}
