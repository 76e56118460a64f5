import COspreySystem
import Foundation
import Logging
public import OspreyAgent
public import OspreyCore
import OspreyHost
public import OspreyProviders
public import OspreySandbox
import OspreyScheduler
public import OspreyStore
public import OspreyTools
import Synchronization

/// Everything agents need, assembled once from the config: providers and router, meter, tools, workspace,
/// the local model, and the registry of runs in progress (for cancellation and one-run-per-session).
///
/// Built once, complete: the tools that reach the kernel's services (tasks, schedules, memory) and the memory
/// recall are passed in, so nothing is attached after construction.
public final class AgentRuntime: Sendable {
    public let router: Router
    public let meter: Meter
    /// Every tool an agent may be granted: the built-in ones, the services', and the MCP servers' current ones.
    public var toolbox: Toolbox { extraTools.map { Toolbox(tools + $0.tools) } ?? fixedToolbox }
    private let tools: [any Tool]
    private let fixedToolbox: Toolbox
    /// Tools that come and go while the gateway runs (the MCP servers': connected after the start, changed when a
    /// server says so).
    private let extraTools: (any ToolSource)?
    public let workspace: Workspace
    public let config: OspreyConfig
    /// The home: where the operator's skills are.
    public let home: Home
    /// The built-in, configured and file personas a run may act in.
    public let personas: PersonaCatalog
    /// The resource state: under pressure, new runs are refused.
    let overload = Overload()
    /// Checkpoints of the workspace, in the home's `checkpoints.git`.
    public let checkpoints: Checkpoints
    public let localModel: LocalModelServer?
    /// Protects the home's own files from commands, whatever the agent.
    public let commandPolicy: CommandPolicy
    /// The OS sandbox rung for every command, resolved at start-up (fail closed when missing).
    public let sandbox: Sandbox
    let store: Store
    /// Runs in progress; on a shared PostgreSQL database a session's lane is also the cluster's.
    let runs: RunRegistry
    /// Where tool calls that need a human wait, and where the API's decisions arrive.
    public let approvals: ApprovalDesk
    /// Finds relevant memories for a run's first prompt (nil when memory injection is off).
    public let recall: (@Sendable (String) async -> Recall?)?

    /// Builds the runtime; `providers` overrides the configured ones (tests pass scripted providers), `services`
    /// are the tools that reach the kernel's services, `extraTools` those that change while the gateway runs (read
    /// at each run), `confinement` where tools act (built from the config when nil).
    public init(
        config: OspreyConfig,
        store: Store,
        home: Home,
        providers: [String: any ModelProvider]? = nil,
        toolbox: [any Tool] = Toolbox.builtInTools,
        services: [any Tool] = [],
        extraTools: (any ToolSource)? = nil,
        recall: (@Sendable (String) async -> Recall?)? = nil,
        retry: RetryPolicy = RetryPolicy(),
        confinement: Confinement? = nil
    ) throws {
        self.config = config
        self.home = home
        personas = PersonaCatalog(
            directory: home.personasDirectory,
            configured: config.personas.map { name, persona in
                Persona(
                    name: name,
                    description: persona.description,
                    instructions: persona.instructions,
                    model: persona.model,
                    tools: persona.tools,
                    temperature: persona.temperature,
                    readOnly: persona.readOnly,
                    source: "config"
                )
            }
        )
        self.store = store
        runs = RunRegistry(lanes: store.lanes)
        self.tools = toolbox + services
        self.fixedToolbox = Toolbox(toolbox + services)
        self.extraTools = extraTools
        self.recall = recall
        let confinement = try confinement ?? Confinement(config: config, home: home)
        checkpoints = Checkpoints(
            repository: home.root.appendingPathComponent("checkpoints.git"),
            workspace: confinement.workspace.root
        )
        self.workspace = confinement.workspace
        self.commandPolicy = confinement.commandPolicy
        self.sandbox = confinement.sandbox
        self.approvals = ApprovalDesk(
            approvals: store.approvals,
            lifetime: .seconds(config.approvals.timeoutSeconds)
        )
        var table: [String: any ModelProvider] = [:]
        var local: LocalModelServer?
        if let providers {
            table = providers
        } else {
            for provider in config.providers {
                let key = try Self.resolve(
                    provider.apiKey,
                    owner: "providers '\(provider.name)'",
                    secrets: SecretStore(home: home)
                )
                switch provider.kind {
                case "anthropic":
                    table[provider.name] = AnthropicProvider(
                        name: provider.name,
                        baseURL: provider.baseURL ?? "https://api.anthropic.com",
                        apiKey: key,
                        transport: .silentAtMost(seconds: provider.timeoutSeconds)
                    )
                default:
                    table[provider.name] = OpenAIProvider(
                        name: provider.name,
                        baseURL: provider.baseURL ?? "https://api.openai.com/v1",
                        apiKey: key,
                        transport: .silentAtMost(seconds: provider.timeoutSeconds)
                    )
                }
            }
            if config.localModelEnabled {
                let server = LocalModelServer(
                    settings: config.localModel,
                    logFile: home.logsDirectory.appendingPathComponent("local-model.log"),
                    statesDirectory: home.cacheDirectory.appendingPathComponent("local-model")
                )
                local = server
                table["local"] = LocalModelProvider(server: server)
            }
        }
        self.localModel = local
        self.router = Router(providers: table, policy: retry)
        let prices = config.providers.reduce(into: [String: Pricing]()) { prices, provider in
            for (model, price) in provider.pricing {
                prices["\(provider.name)/\(model)"] = Pricing(
                    inputPerMillion: price.input,
                    outputPerMillion: price.output
                )
            }
        }
        // Room for the cost of calls whose record a full disk refused, kept over a stop: taken now, while there is.
        var reserve: ReservedFile?
        do {
            reserve = try ReservedFile.open(home.owedChargesFile.path, capacity: 1 << 20)
        } catch {
            Logger.current.warning(
                "calls owed when the disk is full cannot be kept over a stop",
                metadata: ["error": "\(error)"]
            )
        }
        self.meter = Meter(store: store, reserve: reserve) { route in prices[route.description] }
    }

    /// Resolves `${env:VAR}` and `${secret:NAME}` (the encrypted store). The value never leaves the provider.
    /// `owner` names what the value is for in errors (`providers 'openai'`).
    static func resolve(_ reference: String?, owner: String, secrets: SecretStore) throws -> String? {
        guard let reference else { return nil }
        if reference.hasPrefix("${env:"), reference.hasSuffix("}") {
            let name = String(reference.dropFirst(6).dropLast())
            return ProcessInfo.processInfo.environment[name]
        }
        if reference.hasPrefix("${secret:"), reference.hasSuffix("}") {
            let name = String(reference.dropFirst(9).dropLast())
            do {
                return try secrets.value(name)
            } catch let error as SecretError {
                throw ConfigError("\(owner): \(error.message)")
            }
        }
        return reference
    }

    /// The tools that change the workspace: a task whose agent has one is checkpointed before it runs.
    static let writers: Set<String> = ["write_file", "edit_file", "run_command"]

    /// Checkpoints the workspace and records `checkpoint.created`.
    public func checkpoint(
        _ label: String,
        actor: Principal,
        task: TaskRecord.ID? = nil
    ) async throws -> Checkpoints.Checkpoint {
        let checkpoint = try await checkpoints.create(label: label)
        try await store.ledger.append(
            EventDraft(
                type: .checkpointCreated,
                actor: actor,
                task: task,
                payload: ["id": .string(checkpoint.id), "label": .string(checkpoint.label)]
            )
        )
        return checkpoint
    }

    /// Whether a run with these settings (an agent's, narrowed by a task's tools and persona) could change the
    /// workspace.
    public static func mayWrite(_ settings: OspreyConfig.Agent) -> Bool {
        !settings.readOnly && (settings.tools ?? []).contains(where: writers.contains)
    }

    /// The routes an agent's calls take: its model, then its fallbacks; by default the first provider or the local model.
    public func routes(for settings: OspreyConfig.Agent) throws -> [ModelRoute] {
        var names = settings.model.map { [$0] } ?? []
        if names.isEmpty {
            if let first = config.providers.first, let model = first.models.first {
                names = ["\(first.name)/\(model)"]
            } else if config.localModelEnabled {
                names = ["local/\(config.localModel.modelName)"]
            }
        }
        names += settings.fallbacks
        let routes = try names.map { name -> ModelRoute in
            guard let route = ModelRoute(name) else { throw ConfigError("model '\(name)' must be provider/model") }
            return route
        }
        guard !routes.isEmpty else {
            throw ConfigError("no model configured: add [[providers]] to config.toml or enable [local_model]")
        }
        return routes
    }

    /// The tools an agent's table grants: deny by default (no `tools`: the read-only set), `["*"]` for every tool.
    ///
    /// An MCP server's tools (`server__tool`) are granted only by name or by `server__*`: `*` means every tool of
    /// Osprey's own, never another party's. The system tools come only with a `host` capability (the policy refuses
    /// them without it anyway; this keeps them out of other agents' context).
    public func grantedTools(_ settings: OspreyConfig.Agent) -> [String] {
        guard let tools = settings.tools else { return OspreyConfig.Agent.readOnlyTools }
        var granted: [String] = []
        for name in toolbox.names where settings.host != "none" || !HostTools.names.contains(name) {
            let server = name.range(of: "__").map { String(name[..<$0.lowerBound]) }
            let named =
                tools.contains(name) || (server == nil && tools.contains("*"))
                || server.map { tools.contains("\($0)__*") } == true
            if named { granted.append(name) }
        }
        // Names the toolbox does not hold stay in the grant: the agent's own toolbox refuses them.
        return granted + tools.filter { !$0.contains("*") && !granted.contains($0) }
    }

    /// The names in `names` that name no tool this gateway has: not a built-in or service tool, not `*`, not a
    /// configured MCP server's (`server__tool`, `server__*`: its tools may still be loading).
    func unknownTools(_ names: [String]) -> [String] {
        let servers = Set(config.mcpServers.map(\.name))
        let known = Set(toolbox.names)
        return names.filter { name in
            if name == "*" || known.contains(name) { return false }
            guard let split = name.range(of: "__") else { return true }
            return !servers.contains(String(name[..<split.lowerBound]))
        }
    }

    /// Refuses a tool list (a task's, a schedule's, a persona's) that names a tool ``unknownTools(_:)`` finds, with
    /// 400 naming them: a misspelt name would leave the work without the tool it meant, silently.
    func checkTools(_ names: [String]) throws {
        let unknown = unknownTools(names)
        guard unknown.isEmpty else {
            throw APIError.badRequest("No tool named \(unknown.map { "'\($0)'" }.joined(separator: ", ")).")
        }
    }

    /// Why `name` is no model route this gateway can call (`provider/model` with a configured provider, or the
    /// local model when it is enabled), or nil.
    public func modelRouteProblem(_ name: String) -> String? {
        guard let route = ModelRoute(name) else { return "model '\(name)' must be provider/model" }
        let providers = config.providers.map(\.name) + (config.localModelEnabled ? ["local"] : [])
        guard providers.contains(route.provider) else {
            return "model '\(name)' names no configured provider (\(providers.joined(separator: ", ")))"
        }
        return nil
    }

    /// Whether `name` is an agent this gateway can run.
    public func knows(agent name: String) -> Bool { Self.knows(agent: name, in: config) }

    /// Whether `config` defines the agent `name` (`default` always exists).
    static func knows(agent name: String, in config: OspreyConfig) -> Bool {
        name == "default" || config.agents[name] != nil
    }

    /// The named agent, ready to run; `tools` narrows its tool set further (a delegated task's grant).
    ///
    /// An agent config.toml does not define is a ``ConfigError``; a door that takes the name from a client
    /// checks ``knows(agent:)`` first and answers 400.
    ///
    /// `workspace` is another directory for its tools to act in (a speculative branch's copy of the workspace).
    ///
    /// An MCP server the agent's table grants tools of and that is still connecting (the gateway has just started)
    /// is waited for, up to its start limit: the agent gets the tools it was granted, or the server's failure is known.
    public func agent(
        named name: String,
        tools: [String]? = nil,
        persona: String? = nil,
        workspace directory: String? = nil
    ) async throws -> Agent {
        guard knows(agent: name) else { throw ConfigError("no agent named '\(name)' in config.toml") }
        var settings = config.agent(name)
        if let extraTools, let named = settings.tools { await extraTools.ready(for: named) }
        settings.tools = grantedTools(settings)
        if let tools { settings.tools = settings.tools?.filter { tools.contains($0) } }
        if let persona {
            guard let found = personas.persona(named: persona) else {
                throw ConfigError("no persona named '\(persona)'")
            }
            settings = found.applied(to: settings)
        }
        let routes = try routes(for: settings)
        if routes.first?.provider == "local" {
            // The embedded SmolLM2-135M is small: sample it greedily so the same question gets the same answer,
            // unless the agent's table sets a temperature.
            settings.temperature = settings.temperature ?? 0
            // It also never stops calling tools once it has started: after one round it must answer, unless the
            // agent's table sets max_tool_rounds.
            if settings.maxToolRounds == 0 { settings.maxToolRounds = 1 }
        }
        var agent = Agent(
            name: name,
            settings: settings,
            routes: routes,
            router: router,
            toolbox: toolbox,
            store: store,
            meter: meter,
            workspace: try directory.map { try Workspace(root: URL(fileURLWithPath: $0)) } ?? workspace,
            commandPolicy: commandPolicy,
            sandbox: sandbox,
            approvals: approvals
        )
        agent.recall = recall
        // Read when a run starts (not here: a client that only calls the agent's tools needs no skills), so a skill
        // added or approved through create_skill is there for the next run.
        agent.skills = { [self] in skillCatalog() }
        if routes.first?.provider == "local", let localModel {
            let built = agent
            await localModel.keepWarm { built.openingRequest() }
        }
        return agent
    }

    /// The skills as they are now: the home's (trusted), then the workspace's (untrusted).
    public func skillCatalog() -> SkillCatalog {
        SkillCatalog.load(home: home.skillsDirectory, workspace: workspace.root.appendingPathComponent("skills"))
    }

    /// The workflow skill `name`, if it is there and may run here.
    public func workflowSkill(named name: String) throws -> Skill {
        guard let skill = skillCatalog().skills.first(where: { $0.name == name }), skill.workflow != nil else {
            throw WorkflowRunner.Failure(description: "no workflow skill named '\(name)'")
        }
        if let reason = skill.unavailable {
            throw WorkflowRunner.Failure(description: "workflow skill '\(name)' is unavailable: \(reason)")
        }
        return skill
    }
}

/// The local model as a provider: makes sure the server runs, then speaks OpenAI's format to it.
struct LocalModelProvider: ModelProvider {
    let server: LocalModelServer

    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        do {
            try await server.ensureRunning()
        } catch let error as ConfigError {
            throw ProviderError.configuration(provider: "local", status: 0, message: error.message)
        }
        let provider = server.client
        let reply = try await provider.respond(to: request, onEvent: onEvent)
        await server.keepWarm(after: request)
        // llama-cpp-python's `chatml-function-calling` handler (0.3.x) first lets the model choose between words and
        // a tool call, then constrains the words with the tool-name grammar, so an answer in words comes back empty
        // (Osprey's launcher, the default `osprey-function-calling`, leaves the words free; see LocalModelLauncher).
        // The model chose to answer: ask again without tools, where nothing constrains the words.
        guard !request.tools.isEmpty, reply.message.text.isEmpty, reply.message.toolCalls.isEmpty else { return reply }
        var plain = request
        plain.tools = []
        plain.toolChoice = nil
        var answer = try await provider.respond(to: plain, onEvent: onEvent)
        await server.keepWarm(after: plain)
        answer.usage = reply.usage + answer.usage
        return answer
    }
}
