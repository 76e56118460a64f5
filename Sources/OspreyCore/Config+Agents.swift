extension ConfigReader {
    /// One `[agents.NAME]` table.
    func agent(_ section: ConfigSection) throws -> OspreyConfig.Agent {
        try checkKeys(
            section.table,
            section: section.name,
            known: [
                "model", "fallbacks", "instructions", "tools", "max_turns", "max_wall_seconds", "max_reply_tokens",
                "context_tokens", "tokens_per_day", "cost_per_day_usd", "tokens_per_run", "cost_per_run_usd",
                "first_tool_choice", "temperature", "max_tool_rounds", "tool_search_threshold", "network_hosts",
                "private_addresses", "read_roots", "write_roots", "exec", "exec_allow", "approval", "host",
                "command_network",
            ]
        )
        let name = section.name
        var agent = OspreyConfig.Agent()
        agent.model = try section.string("model")
        if let model = agent.model, !model.contains("/") {
            throw ConfigError("config.toml: \(name).model must be \"provider/model\"")
        }
        try section.read("fallbacks", into: &agent.fallbacks)
        agent.instructions = try section.string("instructions")
        agent.firstToolChoice = try section.string("first_tool_choice")
        try section.read("network_hosts", into: &agent.networkHosts)
        try section.read("private_addresses", into: &agent.privateAddresses)
        try section.read("max_tool_rounds", 0...10_000, into: &agent.maxToolRounds)
        try section.read("tool_search_threshold", 0...10_000, into: &agent.toolSearchThreshold)
        agent.temperature = try section.number("temperature")
        agent.tools = try section.strings("tools")
        for (key, roots) in [
            ("read_roots", try section.strings("read_roots")), ("write_roots", try section.strings("write_roots")),
        ] {
            guard let roots else { continue }
            if let relative = roots.first(where: { !$0.hasPrefix("/") || $0.split(separator: "/").contains("..") }) {
                throw ConfigError("config.toml: \(name).\(key): '\(relative)' must be an absolute path without ..")
            }
            if key == "read_roots" { agent.readRoots = roots } else { agent.writeRoots = roots }
        }
        try section.choice("exec", ["none", "allowlist", "sandboxed", "full"], into: &agent.exec)
        try section.read("exec_allow", into: &agent.execAllow)
        if let network = try section.bool("command_network") {
            guard !network || !agent.networkHosts.isEmpty else {
                throw ConfigError("config.toml: \(name).command_network needs network_hosts to reach")
            }
            agent.commandNetwork = network
        }
        try section.choice("host", ["none", "read", "operate"], into: &agent.host)
        try section.choice("approval", ["manual", "allowlist", "autonomous"], into: &agent.approval)
        try section.read("max_turns", 1...10_000, into: &agent.maxTurns)
        try section.read("max_wall_seconds", 1...86_400, into: &agent.maxWallSeconds)
        try section.read("max_reply_tokens", 16...1_000_000, into: &agent.maxReplyTokens)
        try section.read("context_tokens", 256...10_000_000, into: &agent.contextTokens)
        try section.read("tokens_per_day", 0...Int.max, into: &agent.tokensPerDay)
        try section.read("tokens_per_run", 0...Int.max, into: &agent.tokensPerRun)
        try section.read("cost_per_day_usd", into: &agent.costPerDayUSD)
        try section.read("cost_per_run_usd", into: &agent.costPerRunUSD)
        return agent
    }
}
