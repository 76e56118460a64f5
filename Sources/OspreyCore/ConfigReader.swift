/// Walks the parsed TOML with a path for every error message.
struct ConfigReader {
    let root: JSONValue

    func table(_ name: String) throws -> [String: JSONValue]? {
        guard let value = root[name] else { return nil }
        guard let table = value.objectValue else { throw ConfigError("config.toml: [\(name)] must be a table") }
        return table
    }

    func checkKeys(_ table: [String: JSONValue], section: String, known: Set<String>) throws {
        if let unknown = table.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError("config.toml: unknown key '\(section).\(unknown)'")
        }
    }

    func int(_ table: [String: JSONValue], _ key: String, section: String, range: ClosedRange<Int>) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard case .int(let number) = value, range.contains(number) else {
            throw ConfigError(
                "config.toml: \(section).\(key) must be an integer in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return number
    }

    func string(_ table: [String: JSONValue], _ key: String, section: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let text = value.stringValue else { throw ConfigError("config.toml: \(section).\(key) must be a string") }
        return text
    }

    func number(_ table: [String: JSONValue], _ key: String, section: String) throws -> Double? {
        guard let value = table[key] else { return nil }
        guard let number = value.doubleValue, number >= 0 else {
            throw ConfigError("config.toml: \(section).\(key) must be a non-negative number")
        }
        return number
    }

    func bool(_ table: [String: JSONValue], _ key: String, section: String) throws -> Bool? {
        guard let value = table[key] else { return nil }
        guard let flag = value.boolValue else {
            throw ConfigError("config.toml: \(section).\(key) must be true or false")
        }
        return flag
    }

    func strings(_ table: [String: JSONValue], _ key: String, section: String) throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            throw ConfigError("config.toml: \(section).\(key) must be an array of strings")
        }
        return items.compactMap(\.stringValue)
    }

    /// The table `name`, its keys checked against `known`, or nil when config.toml has none.
    func section(_ name: String, known: Set<String>) throws -> ConfigSection? {
        guard let table = try table(name) else { return nil }
        return try section(table, name: name, known: known)
    }

    /// `table`, the section `name` (`personas.NAME`), with its keys checked.
    func section(_ table: [String: JSONValue], name: String, known: Set<String>) throws -> ConfigSection {
        try checkKeys(table, section: name, known: known)
        return ConfigSection(table: table, name: name, reader: self)
    }

    mutating func read(into config: inout OspreyConfig) throws {
        if let gateway = try section(
            "gateway",
            known: [
                "host", "port", "max_body_bytes", "allow_remote", "allowed_origins", "allowed_hosts",
                "header_timeout_seconds", "idle_timeout_seconds", "write_stall_seconds", "max_connections",
                "max_streams_per_token", "max_connections_per_address",
            ]
        ) {
            try gateway.read("host", into: &config.gateway.host)
            try gateway.read("port", 0...65535, into: &config.gateway.port)
            try gateway.read("max_body_bytes", 1024...(1 << 30), into: &config.gateway.maxBodyBytes)
            try gateway.read("allow_remote", into: &config.gateway.allowRemote)
            try gateway.read("allowed_origins", into: &config.gateway.allowedOrigins)
            try gateway.read("allowed_hosts", into: &config.gateway.allowedHosts)
            if let seconds = try gateway.int("header_timeout_seconds", 1...3600) {
                config.gateway.headerTimeoutSeconds = Double(seconds)
            }
            try gateway.read("idle_timeout_seconds", 1...86_400, into: &config.gateway.idleTimeoutSeconds)
            try gateway.read("write_stall_seconds", 1...86_400, into: &config.gateway.writeStallSeconds)
            try gateway.read("max_streams_per_token", 1...1_000_000, into: &config.gateway.maxStreamsPerToken)
            try gateway.read("max_connections", 1...1_000_000, into: &config.gateway.maxConnections)
            try gateway.read(
                "max_connections_per_address",
                0...1_000_000,
                into: &config.gateway.maxConnectionsPerAddress
            )
        }
        if let auth = try section("auth", known: ["max_failures", "window_seconds", "lockout_seconds"]) {
            try auth.read("max_failures", 1...100_000, into: &config.auth.maxFailures)
            try auth.read("window_seconds", 1...86_400, into: &config.auth.windowSeconds)
            try auth.read("lockout_seconds", 0...86_400, into: &config.auth.lockoutSeconds)
        }
        if let ledger = try section("ledger", known: ["synchronous", "witness"]) {
            if let witness = try ledger.string("witness") {
                guard witness.isEmpty || witness.hasPrefix("/") else {
                    throw ConfigError("config.toml: ledger.witness must be an absolute path")
                }
                config.ledger.witness = witness
            }
            try ledger.choice("synchronous", ["full", "normal"], into: &config.ledger.synchronous)
        }
        if let agents = try table("agents") {
            for (name, value) in agents {
                guard let table = value.objectValue else {
                    throw ConfigError("config.toml: [agents.\(name)] must be a table")
                }
                config.agents[name] = try agent(ConfigSection(table: table, name: "agents.\(name)", reader: self))
            }
        }
        if let sandbox = try section("sandbox", known: ["backend", "memory_bytes", "max_processes"]) {
            try sandbox.read("memory_bytes", (16 << 20)...(1 << 40), into: &config.sandbox.memoryBytes)
            try sandbox.read("max_processes", 4...100_000, into: &config.sandbox.maxProcesses)
            try sandbox.choice("backend", ["auto", "bwrap", "process", "none"], into: &config.sandbox.backend)
        }
        if let memory = try section(
            "memory",
            known: ["embedder", "model_path", "bfloat16", "inject_tokens", "provider", "model", "dimensions"]
        ) {
            try memory.choice("embedder", ["minilm", "openai", "none"], into: &config.memory.embedder)
            config.memory.provider = try memory.string("provider") ?? ""
            config.memory.model = try memory.string("model") ?? ""
            config.memory.dimensions = try memory.int("dimensions", 0...65536) ?? 0
            if config.memory.embedder == "openai"
                && (config.memory.provider.isEmpty || config.memory.model.isEmpty || config.memory.dimensions == 0)
            {
                throw ConfigError(
                    "config.toml: memory.embedder = \"openai\" needs memory.provider, memory.model and memory.dimensions"
                )
            }
            try memory.read("model_path", into: &config.memory.modelPath)
            try memory.read("bfloat16", into: &config.memory.bfloat16)
            try memory.read("inject_tokens", 0...100_000, into: &config.memory.injectTokens)
        }
        if let tasks = try section("tasks", known: ["max_concurrent", "per_provider", "lease_seconds"]) {
            try tasks.read("lease_seconds", 2...3600, into: &config.tasks.leaseSeconds)
            try tasks.read("max_concurrent", 1...1000, into: &config.tasks.maxConcurrent)
            try tasks.read("per_provider", 1...1000, into: &config.tasks.perProvider)
        }
        if let approvals = try section("approvals", known: ["timeout_seconds"]) {
            try approvals.read("timeout_seconds", 1...86_400, into: &config.approvals.timeoutSeconds)
        }
        if let local = try section(
            "local_model",
            known: ["enabled", "command", "model_path", "port", "chat_format", "context_tokens", "model_name", "start"]
        ) {
            config.localModel.enabled = try local.bool("enabled")
            if let command = try local.strings("command") {
                guard !command.isEmpty else { throw ConfigError("config.toml: local_model.command must not be empty") }
                config.localModel.command = command
            }
            try local.read("model_path", into: &config.localModel.modelPath)
            try local.read("port", 1...65535, into: &config.localModel.port)
            try local.read("chat_format", into: &config.localModel.chatFormat)
            try local.read("context_tokens", 512...1_000_000, into: &config.localModel.contextTokens)
            try local.read("model_name", into: &config.localModel.modelName)
            try local.choice("start", ["on_demand", "with_gateway"], into: &config.localModel.start)
        }
        if let servers = root["mcp_servers"] {
            config.mcpServers = try mcpServers(servers)
        }
        if let channels = root["channels"] { config.channels = try self.channels(channels) }
        if let backup = try table("backup") { config.backup = try self.backup(backup) }
        if let store = try table("store") { config.store = try self.store(store) }
        if let resources = try section(
            "resources",
            known: [
                "sample_seconds", "memory_percent", "disk_percent", "descriptors_percent", "load_per_core",
                "rss_soft_mb", "rss_hard_mb", "shed_priority_below",
            ]
        ) {
            var value = OspreyConfig.Resources()
            try resources.read("sample_seconds", 1...3600, into: &value.sampleSeconds)
            try resources.read("memory_percent", 1...100, into: &value.memoryPercent)
            try resources.read("disk_percent", 1...100, into: &value.diskPercent)
            try resources.read("descriptors_percent", 1...100, into: &value.descriptorsPercent)
            try resources.read("load_per_core", into: &value.loadPerCore)
            try resources.read("rss_soft_mb", 0...1_000_000, into: &value.rssSoftMB)
            try resources.read("rss_hard_mb", 0...1_000_000, into: &value.rssHardMB)
            try resources.read("shed_priority_below", 0...10, into: &value.shedPriorityBelow)
            config.resources = value
        }
        if let host = try section("host", known: ["switch_paths"]) {
            let paths = try host.strings("switch_paths") ?? []
            if let bad = paths.first(where: {
                !$0.hasPrefix("/") || $0.split(separator: "/").contains("..") || $0 == "/"
            }) {
                throw ConfigError(
                    "config.toml: host.switch_paths: '\(bad)' must be an absolute directory other than /, without .."
                )
            }
            config.host.switchPaths = paths
        }
        if let plugins = try section("plugins", known: ["trusted", "publishers"]) {
            config.trustedPlugins = try plugins.strings("trusted") ?? []
            config.pluginPublishers = try plugins.strings("publishers") ?? []
        }
        if let mcp = try section("mcp", known: ["serve_agent"]) {
            try mcp.read("serve_agent", into: &config.mcp.serveAgent)
        }
        if let a2a = try table("a2a") { config.a2a = try self.a2a(a2a) }
        if let tracing = try table("tracing") { config.tracing = try self.tracing(tracing) }
        if let personas = try table("personas") { config.personas = try self.personas(personas) }
        if let metrics = try section("metrics", known: ["require_token"]) {
            config.metrics.requireToken = try metrics.bool("require_token") ?? true
        }
        if let agents = root["a2a_agents"] { config.a2aAgents = try a2aAgents(agents) }
        if let providers = root["providers"] {
            guard let entries = providers.arrayValue else {
                throw ConfigError("config.toml: providers must be an array of tables ([[providers]])")
            }
            config.providers = try entries.enumerated().map { position, entry in
                let section = "providers[\(position)]"
                guard let table = entry.objectValue else {
                    throw ConfigError("config.toml: \(section) must be a table")
                }
                guard let name = try string(table, "name", section: section) else {
                    throw ConfigError("config.toml: \(section).name is required")
                }
                let kind = try string(table, "kind", section: section) ?? "openai"
                guard ["openai", "anthropic"].contains(kind) else {
                    throw ConfigError("config.toml: \(section).kind must be \"openai\" or \"anthropic\"")
                }
                try checkKeys(
                    table,
                    section: section,
                    known: ["name", "kind", "base_url", "api_key", "models", "pricing", "timeout_seconds"]
                )
                guard name != "local" else {
                    throw ConfigError("config.toml: \(section).name 'local' is reserved for [local_model]")
                }
                var pricing: [String: (input: Double, output: Double)] = [:]
                if let prices = table["pricing"] {
                    guard let models = prices.objectValue else {
                        throw ConfigError("config.toml: \(section).pricing must be a table")
                    }
                    for (model, price) in models {
                        guard let input = price["input"]?.doubleValue, let output = price["output"]?.doubleValue,
                            input >= 0, output >= 0
                        else {
                            throw ConfigError(
                                "config.toml: \(section).pricing.\(model) must be { input = USD per Mtok, output = USD per Mtok }"
                            )
                        }
                        pricing[model] = (input, output)
                    }
                }
                return OspreyConfig.Provider(
                    name: name,
                    kind: kind,
                    baseURL: try string(table, "base_url", section: section),
                    apiKey: try string(table, "api_key", section: section),
                    models: try strings(table, "models", section: section) ?? [],
                    pricing: pricing,
                    timeoutSeconds: try int(table, "timeout_seconds", section: section, range: 1...3600) ?? 120
                )
            }
        }
    }
}
