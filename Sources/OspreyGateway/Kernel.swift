public import Foundation
public import Logging
import OspreyAgent
import OspreyChannels
public import OspreyCore
import OspreyEmbeddings
public import OspreyHost
public import OspreyMCP
public import OspreyMemory
public import OspreyPlugins
import OspreyProviders
public import OspreyScheduler
public import OspreyStore
import OspreyTools
public import ServiceLifecycle

/// The assembled gateway: home, configuration, database and ledger, authentication. Routes and the daemon share it.
public struct Kernel: Sendable {
    public static let version = "0.1.0"

    public let home: Home
    public let config: OspreyConfig
    public let store: Store
    public let runtime: AgentRuntime
    /// Background tasks: queue, caps, crash recovery.
    public let supervisor: Supervisor
    /// The web dashboard's files, read once at start.
    let dashboard = DashboardAssets.load(from: DashboardAssets.directory())
    /// Cron, `@every`, `@at` and event-triggered schedules.
    public let scheduler: Scheduler
    /// Long-term memory: Markdown files, FTS5 + vector index.
    public let memory: MemoryBank
    /// The MCP servers of `[[mcp_servers]]`, started with the kernel; their tools are among the services' tools.
    public let mcp: MCPServers
    /// The Wasm plugins installed in the home, loaded at start; their tools are among the services' tools.
    public let plugins: Plugins
    /// SafeSwitch: host changes in probation, rolled back unless committed.
    public let switches: SafeSwitch
    /// `[backup]`: the gateway's own backups (on its schedule, or asked for through the API).
    let backups: BackupJob
    /// `[[channels]]`, each with its connector (its bot token resolved at start-up).
    let channels: [ChannelHub.Entry]
    let authenticator: Authenticator
    let authLimiter: AuthFailureLimiter
    /// The long-lived streams each token holds open, and the most it may.
    let streamQuota: StreamQuota
    /// The connections each client address holds (`gateway.max_connections_per_address`).
    let addressQuota: AddressQuota
    public let startedAt: Date
    /// Where new signed heads are appended, if `[ledger] witness` names a file.
    let witnessFile: URL?
    /// The port actually bound (known after start; used for the WebSocket Origin check).
    public let port: Int
    /// The metrics registry `/metrics` serves, and the ledger's counts into it.
    public let telemetry: Telemetry
    let ledgerMetrics: LedgerMetrics

    /// Opens (creating on first start) the home's files and database and registers the home token.
    public static func boot(home: Home, config: OspreyConfig, port: Int? = nil) async throws -> Kernel {
        try home.bootstrap()
        let durability: Store.Durability = config.ledger.synchronous == "normal" ? .normal : .full
        let telemetry = Telemetry()
        let store = try await openStore(home: home, config: config, durability: durability, telemetry: telemetry)
        if let lanes = store.lanes, try await !lanes.holdNode() {
            store.close()
            throw ConfigError(
                "[store] node: another gateway on this database runs as '\(store.tasks.node)'; give each gateway its own"
            )
        }
        try await store.tokens.registerHomeToken(try home.readToken())
        // A request left pending by a previous run of the gateway has nobody waiting for it any more. On a database
        // other gateways share, only those past their lifetime: the others may be a run of theirs waiting.
        _ = try await store.approvals.expireAllPending(before: store.dialect == .postgres ? Date() : nil)
        // An interactive run the previous gateway was in the middle of is closed, so its session can go on.
        try await Agent.closeInterruptedRuns(in: store)
        return try await Kernel(
            home: home,
            config: config,
            store: store,
            port: port ?? config.gateway.port,
            telemetry: telemetry
        )
    }

    /// Assembles the kernel around a store, once and in dependency order: memory, where tools act, the scheduler,
    /// the tools that reach them, the agent runtime, then the supervisor that runs its agents. Nothing is attached
    /// after construction: task tools and schedules write through the store, and the supervisor wakes on the
    /// committed `task.created`.
    ///
    /// `providers` replaces the configured model providers (tests pass scripted ones).
    public init(
        home: Home,
        config: OspreyConfig,
        store: Store,
        providers: [String: any ModelProvider]? = nil,
        port: Int,
        telemetry: Telemetry = Telemetry()
    ) async throws {
        self.home = home
        self.config = config
        self.store = store
        self.telemetry = telemetry
        // Counts from the ledger start here: a process's counters start at its start.
        ledgerMetrics = LedgerMetrics(
            store: store,
            registry: telemetry.registry,
            after: try await store.ledger.lastSeq()
        )
        // The dead man's switch, before anything else runs: a change the last gateway left in probation is undone.
        let switches = SafeSwitch(
            store: store,
            home: home,
            roots: config.host.switchPaths,
            logger: Logger.current.component("switch")
        )
        self.switches = switches
        for record in try await switches.recover() {
            Logger.current.warning("rolled back a safe switch left in probation", metadata: ["switch": "\(record.id)"])
        }
        // What a tainted run's command changed before the last gateway died under it is tainted, before any run reads it.
        for command in try await store.provenance.unfinishedTaintedCommands() {
            try await store.provenance.endTaintedCommand(
                command.id,
                directories: command.directories,
                since: command.since
            )
            Logger.current.warning(
                "recorded what a tainted command changed before the gateway stopped under it",
                metadata: ["command": "\(command.id)", "session": "\(command.session?.rawValue ?? "")"]
            )
        }
        let memory = try MemoryBank(
            directory: home.memoryDirectory,
            store: store,
            embedder: try Self.embedder(config: config, home: home),
            metrics: telemetry.factory
        )
        self.memory = memory
        let confinement = try Confinement(config: config, home: home)
        let secrets = SecretStore(home: home)
        let mcp = MCPServers.start(
            config.mcpServers,
            directory: confinement.workspace.root.path,
            resolve: { try AgentRuntime.resolve($0, owner: "mcp_servers", secrets: secrets) ?? "" },
            logger: Logger.current
        )
        self.mcp = mcp
        let plugins = Plugins.load(
            from: home.pluginsDirectory,
            trusted: Set(config.trustedPlugins),
            publishers: config.pluginPublishers,
            secrets: { try secrets.value($0) },
            logger: Logger.current
        )
        self.plugins = plugins
        channels = try Self.channelEntries(config: config, secrets: secrets)
        backups = try BackupJob(
            settings: config.backup,
            home: home,
            secrets: secrets,
            ledger: store.ledger,
            store: store.dialect
        )
        let scheduler = Scheduler(store: store, routineContext: confinement.routineContext()) { name in
            AgentRuntime.knows(agent: name, in: config)
        }
        self.scheduler = scheduler
        let cap = config.memory.injectTokens
        var recall: (@Sendable (String) async -> Recall?)?
        if cap > 0 { recall = { prompt in await memory.recall(for: prompt, tokenCap: cap) } }
        let services: [any Tool] =
            [
                SubmitTask(store: store), CheckTask(store: store), CancelTask(store: store), ListTasks(store: store),
                ScheduleTask(scheduler: scheduler), UnscheduleTask(store: store), ListSchedules(store: store),
                StoreMemory(bank: memory), QueryMemories(bank: memory), ForgetMemory(bank: memory),
                CreateSkill(directory: home.skillsDirectory),
            ] + HostTools.all + [SafeSwitchTool(switches: switches), IncidentTool(incidents: store.incidents)]
            + plugins.tools
            + (config.a2aAgents.isEmpty
                ? []
                : [
                    CallAgent(agents: config.a2aAgents) {
                        try AgentRuntime.resolve($0, owner: "a2a_agents", secrets: secrets)
                    }
                ])
        // An MCP server's tools come when it has connected and change when it says so: each run reads them as they are.
        let runtime = try AgentRuntime(
            config: config,
            store: store,
            home: home,
            providers: providers,
            services: services,
            extraTools: mcp.clients.isEmpty ? nil : mcp,
            recall: recall,
            confinement: confinement
        )
        self.runtime = runtime
        // Calls a stop kept because a full disk refused their record: owed again, recorded once the store takes them.
        do {
            let owed = try runtime.meter.loadOwed()
            if owed > 0 {
                Logger.current.warning("model calls kept over the last stop are owed", metadata: ["calls": "\(owed)"])
            }
        } catch {
            Logger.current.error("the calls kept over the last stop cannot be read", metadata: ["error": "\(error)"])
        }
        self.supervisor = Supervisor(
            store: store,
            limits: Supervisor.Limits(
                maxConcurrent: config.tasks.maxConcurrent,
                perProvider: config.tasks.perProvider,
                heartbeat: .milliseconds(config.tasks.leaseSeconds * 1000 / 6),
                lease: .seconds(config.tasks.leaseSeconds)
            ),
            provider: { task in
                (try? runtime.routes(for: runtime.config.agent(task.agent)).first?.provider) ?? "default"
            },
            runner: { task, resume in
                let outcome = try await Self.run(task, resume: resume, runtime: runtime)
                // What a task did becomes an episode in memory, with its provenance, for later runs to recall:
                // untrusted if untrusted content was in its run's context (as a memory the agent stores itself). The
                // task's outcome stands whether or not its episode could be kept.
                do {
                    _ = try await memory.store(
                        outcome.result,
                        title: "Task: \(task.title)",
                        type: .episode,
                        tags: ["task"],
                        source: .agent,
                        provenance: "task \(task.id.rawValue), agent \(task.agent)",
                        trust: outcome.untrusted || task.tainted ? .untrusted : .trusted,
                        importance: 0.3,
                        actor: .agent(task.agent)
                    )
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    Logger.current.warning(
                        "task episode not stored in memory",
                        metadata: ["task.id": "\(task.id)", "error": "\(error)"]
                    )
                }
                return outcome
            }
        )
        self.port = port
        self.authenticator = Authenticator(tokens: store.tokens)
        self.authLimiter = AuthFailureLimiter(
            maxFailures: config.auth.maxFailures,
            window: Double(config.auth.windowSeconds),
            lockout: Double(config.auth.lockoutSeconds)
        )
        self.streamQuota = StreamQuota(limit: config.gateway.maxStreamsPerToken)
        self.addressQuota = AddressQuota(limit: config.gateway.maxConnectionsPerAddress)
        self.startedAt = Date()
        self.witnessFile =
            config.ledger.witness.isEmpty ? nil : try LedgerWitness.file(path: config.ledger.witness, home: home.root)
        try await authenticator.refresh()
    }

    /// Where the all-MiniLM-L6-v2 files are looked for: `[memory] model_path`, the home's `models/`, the install cache.
    public static func modelDirectories(config: OspreyConfig, home: Home) -> [URL] {
        if !config.memory.modelPath.isEmpty { return [URL(fileURLWithPath: config.memory.modelPath)] }
        let environment = ProcessInfo.processInfo.environment
        let cache =
            environment["OSPREY_MODELS"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? "/root").appendingPathComponent(".cache/osprey/models")
        return [
            home.root.appendingPathComponent("models/all-minilm-l6-v2"),
            cache.appendingPathComponent("all-minilm-l6-v2"),
        ]
    }

    /// The configured embedder, or nil (keyword search only) when it is off or its files are not installed.
    static func embedder(config: OspreyConfig, home: Home) throws -> (any Embedder)? {
        if config.memory.embedder == "openai" {
            guard let provider = config.providers.first(where: { $0.name == config.memory.provider }) else {
                throw ConfigError("memory.provider '\(config.memory.provider)' is not a [[providers]] name")
            }
            return OpenAIEmbedder(
                name: provider.name,
                baseURL: provider.baseURL ?? "https://api.openai.com/v1",
                apiKey: try AgentRuntime.resolve(
                    provider.apiKey,
                    owner: "providers '\(provider.name)'",
                    secrets: SecretStore(home: home)
                ),
                model: config.memory.model,
                dimensions: config.memory.dimensions
            )
        }
        guard config.memory.embedder == "minilm" else { return nil }
        // Loaded on first use, so start-up time and idle memory do not pay for the weights.
        return modelDirectories(config: config, home: home).first {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("model.safetensors").path)
        }.map { LazyEmbedder(directory: $0, bfloat16: config.memory.bfloat16) }
    }

    /// Runs one background task with its agent: fresh, or resumed from its transcript after a crash.
    static func run(_ task: TaskRecord, resume: Bool, runtime: AgentRuntime) async throws -> TaskOutcome {
        if let name = task.workflow { return try await runWorkflow(name, task: task, runtime: runtime) }
        if task.seed != nil {
            return try await SpecRunner(
                store: runtime.store,
                workflows: workflowRunner(for: task, runtime: runtime),
                gate: runtime.approvals,
                workspace: runtime.workspace.root,
                checkpoints: SpecRunner.Checkpointing(
                    create: { label in try await runtime.checkpoint(label, actor: .task(task.id), task: task.id).id },
                    restore: { id in
                        let safety = try await runtime.checkpoints.restore(id)
                        try await runtime.store.ledger.append(
                            EventDraft(
                                type: .checkpointRestored,
                                actor: .task(task.id),
                                task: task.id,
                                payload: ["id": .string(id), "safety": .string(safety.id)]
                            )
                        )
                    }
                )
            ).run(task)
        }
        let task = try await inConversation(task, store: runtime.store)
        // A task that may change the workspace starts from a checkpoint it can be rolled back to (not on a resume:
        // the checkpoint of its first start stands). Without git the task still runs, and the log says why.
        let agent = try await runtime.agent(
            named: task.agent,
            tools: task.tools,
            persona: task.persona,
            workspace: task.workspace
        )
        if !resume, AgentRuntime.mayWrite(agent.settings) {
            do {
                _ = try await runtime.checkpoint(
                    "before task \(task.id.rawValue): \(task.title)",
                    actor: .system,
                    task: task.id
                )
            } catch {
                Logger.current.warning(
                    "no checkpoint before the task",
                    metadata: ["task": "\(task.id)", "error": "\(error)"]
                )
            }
        }
        let result = try await agent.perform(task, resume: resume)
        // What the run spent is already on the task: the meter charges each call to it as the call settles.
        return TaskOutcome(result: result.message.text, untrusted: result.tainted)
    }

    /// A task of a conversation (an A2A context) with the earlier exchanges of that conversation before its
    /// instructions; tainted if any of them was, since their answers are now in its prompt.
    static func inConversation(_ task: TaskRecord, store: Store) async throws -> TaskRecord {
        let earlier = try await store.tasks.conversation(before: task)
        guard !earlier.isEmpty else { return task }
        var task = task
        let exchanges = earlier.map { done in
            "user: \(done.instructions)\nagent: \(done.result ?? "(failed: \(done.error ?? "no answer"))")"
        }
        task.instructions =
            "The conversation so far:\n\(exchanges.joined(separator: "\n"))\n\nNow: \(task.instructions)"
        task.tainted = task.tainted || earlier.contains(where: \.tainted)
        return task
    }

    /// Runs (or resumes) a workflow skill's task: the skill as the catalog has it now, its tool and command steps
    /// through the task agent's own tools and check point, acting as the task.
    static func runWorkflow(_ name: String, task: TaskRecord, runtime: AgentRuntime) async throws -> TaskOutcome {
        let skill = try runtime.workflowSkill(named: name)
        return try await workflowRunner(for: task, runtime: runtime).run(
            task,
            workflow: skill.workflow!,
            trusted: skill.trusted
        )
    }

    /// The runner of `task`'s workflow steps: its tool and command steps through the task agent's own tools and
    /// check point, acting as the task; a prompt step in one of the catalog's personas runs as that persona.
    static func workflowRunner(for task: TaskRecord, runtime: AgentRuntime) -> WorkflowRunner {
        WorkflowRunner(store: runtime.store, personas: Set(runtime.personas.all().personas.map(\.name))) {
            agent,
            tool,
            arguments,
            tainted,
            workspace in
            try await runtime.agent(named: agent, tools: task.tools, workspace: workspace).callTool(
                tool,
                arguments: arguments.canonicalJSON,
                tainted: tainted,
                actor: .task(task.id)
            )
        }
    }

    /// Reloads the active tokens after they were changed outside the API (tests, the CLI's offline commands).
    public func refreshTokens() async throws { try await authenticator.refresh() }
}

extension Logger {
    /// This logger with a `component` metadata value, so each service's lines say whose they are.
    func component(_ name: String) -> Logger {
        var copy = self
        copy[metadataKey: "component"] = .string(name)
        return copy
    }
}
