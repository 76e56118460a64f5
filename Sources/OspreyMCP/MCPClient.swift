public import Foundation
public import Logging
public import OspreyCore
public import OspreyTools
import Synchronization

#if canImport(Glibc)
import Glibc
public import OspreySandbox
#endif

/// A client of one MCP server, over stdio (a child process it supervises) or Streamable HTTP: it starts the server or
/// the session, initializes it, lists the server's tools, resources and prompts and uses them; a server that dies
/// (or a session the server forgets) is started again, with back-off, at the next call.
///
/// Requests wait for their answer with a deadline: a call that outlives it fails with a clear error and the server
/// is told with `notifications/cancelled`, as it is when the caller is cancelled. Requests from the server are
/// answered (`ping`) or refused (anything else: this client offers no sampling, roots or elicitation).
public final class MCPClient: Sendable {
    /// How to run the server and how long to wait for it.
    public struct Configuration: Sendable {
        public var name: String
        /// An HTTP server's endpoint; nil runs `command` over stdio.
        public var url: URL?
        /// Headers sent with every HTTP request (an API key of the server's own).
        public var headers: [String: String] = [:]
        /// Where an HTTP server may be reached: its host, and a private address only if named here.
        public var egress = EgressPolicy()
        public var command: String
        public var arguments: [String]
        /// The whole environment the server sees (nothing is inherited).
        public var environment: [String: String]
        public var directory: String?
        /// Longest a request (a tool call included) may take.
        public var timeout: Duration
        /// Longest the server may take to answer `initialize` after it starts (interpreters load slowly on a
        /// busy machine).
        public var startTimeout: Duration

        public init(
            name: String,
            command: String,
            arguments: [String] = [],
            environment: [String: String] = [:],
            directory: String? = nil,
            timeout: Duration = .seconds(60),
            startTimeout: Duration = .seconds(30)
        ) {
            self.name = name
            self.command = command
            self.arguments = arguments
            self.environment = environment
            self.directory = directory
            self.timeout = timeout
            self.startTimeout = startTimeout
        }

        /// An HTTP server at `url`; `egress` must allow its host (and name a private address to reach one).
        public init(
            name: String,
            url: URL,
            headers: [String: String] = [:],
            egress: EgressPolicy,
            timeout: Duration = .seconds(60),
            startTimeout: Duration = .seconds(30)
        ) {
            self.init(name: name, command: "", timeout: timeout, startTimeout: startTimeout)
            self.url = url
            self.headers = headers
            self.egress = egress
        }
    }

    /// A tool as the server describes it.
    public struct RemoteTool: Hashable, Sendable {
        public var name: String
        public var description: String
        public var inputSchema: JSONValue
    }

    /// The protocol revision this client speaks.
    public static let protocolVersion = "2025-06-18"

    public let configuration: Configuration
    private let logger: Logger
    /// Monotonic time for the restart back-off (a test passes a manual clock's).
    private let elapsed: @Sendable () -> Duration
    let state = Mutex(State())

    struct State {
        var connection: (any MCPTransport)?
        /// The start in progress (spawn and `initialize`), which every caller arriving meanwhile waits for.
        var starting: Task<Void, any Error>?
        var pending: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
        /// Requests cancelled before they were registered.
        var cancelledEarly: Set<Int> = []
        var nextID = 1
        /// The server's name and version from `initialize`.
        var serverInfo: String = ""
        /// After a crash, no restart before this time (on ``elapsed``); the delay doubles with each crash in a row.
        var restartNotBefore: Duration?
        var crashes = 0
        /// How the server's process last ended, with its last words: the answer to a request that comes after.
        var exit: MCPError?
        var stopped = false
        var toolsChanged = false
        /// What the server said it offers at `initialize` (`tools`, `resources`, `prompts`, ...).
        var capabilities: JSONValue = [:]
        /// Told when the server says its tool list changed.
        var onToolsChanged: (@Sendable () -> Void)?
        /// Who hears a request's progress notifications, by progress token (the request's id).
        var progress: [Int: @Sendable (String) -> Void] = [:]
        /// When each request in flight times out.
        var deadlines: [Int: Deadline] = [:]
        /// One watchdog for every deadline (not a timer task per request, whose start and cancellation cost more
        /// thread wake-ups than a quick call itself); its generation, and when it wakes next.
        var watchdog: (task: Task<Void, Never>, generation: Int, wake: ContinuousClock.Instant)?
        var watchdogGenerations = 0
    }

    public init(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "osprey.mcp"),
        elapsed: (@Sendable () -> Duration)? = nil
    ) {
        self.configuration = configuration
        let start = ContinuousClock.now
        self.elapsed = elapsed ?? { start.duration(to: .now) }
        var logger = logger
        logger[metadataKey: "mcp.server"] = "\(configuration.name)"
        self.logger = logger
    }

    /// The server's name and version, as it gave them.
    public var serverInfo: String { state.withLock { $0.serverInfo } }

    /// Whether the server said its tool list changed since it was read.
    public var toolsChanged: Bool { state.withLock { $0.toolsChanged } }

    /// Calls `handler` each time the server says its tool list changed (``connect()`` lists it again).
    public func whenToolsChange(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.onToolsChanged = handler }
    }

    /// Whether the server said at `initialize` that it offers `capability` (`resources`, `prompts`).
    public func offers(_ capability: String) -> Bool { state.withLock { $0.capabilities[capability] != nil } }

    /// Starts the server (if it is not running) and returns its tools.
    public func connect() async throws -> [RemoteTool] {
        try await ensureRunning()
        var tools: [RemoteTool] = []
        for tool in try await pages("tools/list", key: "tools") {
            guard let name = tool["name"]?.stringValue else { continue }
            tools.append(
                RemoteTool(
                    name: name,
                    description: tool["description"]?.stringValue ?? "",
                    inputSchema: tool["inputSchema"] ?? ["type": "object"]
                )
            )
        }
        state.withLock { $0.toolsChanged = false }
        return tools
    }

    /// Calls a tool; its text content joined, or ``MCPError/toolFailed(_:)`` when the server says the call failed.
    /// `progress` hears the server's progress notifications for the call (their message, or `n/total`).
    public func callTool(
        _ name: String,
        arguments: JSONValue,
        progress: (@Sendable (String) -> Void)? = nil
    ) async throws -> String {
        try await ensureRunning()
        let result = try await request(
            "tools/call",
            params: ["name": .string(name), "arguments": arguments],
            progress: progress
        )
        let text = Self.text(of: result["content"]?.arrayValue ?? [])
        let output = text.isEmpty ? (result["structuredContent"]?.canonicalJSON ?? "") : text
        if result["isError"]?.boolValue == true { throw MCPError.toolFailed(output) }
        return output
    }

    /// A `ping` round trip (starting the server or session if it is not running).
    public func ping() async throws {
        try await ensureRunning()
        _ = try await request("ping", params: [:])
    }

    /// Every page of a paged list (`tools/list`, `resources/list`, ...), at most 10,000 items.
    func pages(_ method: String, key: String) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: String?
        repeat {
            let page = try await request(method, params: cursor.map { ["cursor": .string($0)] } ?? [:])
            items += page[key]?.arrayValue ?? []
            cursor = page["nextCursor"]?.stringValue
        } while cursor != nil && items.count < 10_000
        return items
    }

    /// Stops the server; calls in flight fail.
    public func stop() async {
        let connection = state.withLock { state in
            state.stopped = true
            state.watchdog?.task.cancel()
            state.watchdog = nil
            defer { state.connection = nil }
            return state.connection
        }
        await connection?.stop()
        failAll(MCPError.stopped(configuration.name))
    }

    // MARK: The session

    /// Returns once the server runs and is initialized: at once if it does, after the start in progress if there is
    /// one (concurrent callers share it, so no request reaches a server before its `initialize`), else after
    /// starting it, unless it is backing off after a crash.
    func ensureRunning() async throws {
        enum Step {
            case running
            case join(Task<Void, any Error>)
            case wait(Duration)
            case stopped
        }
        let step: Step = state.withLock { state in
            if state.stopped { return .stopped }
            if let starting = state.starting { return .join(starting) }
            if state.connection != nil { return .running }
            let now = elapsed()
            if let until = state.restartNotBefore, until > now { return .wait(until - now) }
            let starting = Task {
                defer { self.state.withLock { $0.starting = nil } }
                try await self.start()
            }
            state.starting = starting
            return .join(starting)
        }
        switch step {
        case .running: return
        case .stopped: throw MCPError.stopped(configuration.name)
        case .wait(let delay):
            throw MCPError.unavailable("MCP server '\(configuration.name)' is down; it is started again in \(delay)")
        case .join(let starting): try await starting.value
        }
    }

    private func start() async throws {
        let onMessage: @Sendable (Result<JSONValue, StdioConnectionError>) -> Void = { [weak self] message in
            self?.receive(message)
        }
        let onExit: @Sendable (String) -> Void = { [weak self] reason in self?.exited(reason) }
        let connection: any MCPTransport
        if let url = configuration.url {
            do {
                connection = try StreamableHTTPConnection(
                    url: url,
                    headers: configuration.headers,
                    egress: configuration.egress,
                    onMessage: onMessage,
                    onExit: onExit
                )
            } catch let error as ToolArgumentError {
                throw MCPError.unavailable("MCP server '\(configuration.name)': \(error.description)")
            }
        } else {
            connection = try StdioConnection(
                command: configuration.command,
                arguments: configuration.arguments,
                environment: configuration.environment,
                directory: configuration.directory,
                onMessage: onMessage,
                onExit: onExit
            )
        }
        // Only one start runs at a time (``ensureRunning()``); a stop may have come meanwhile.
        let stopped = state.withLock { state in
            if !state.stopped { (state.connection, state.exit) = (connection, nil) }
            return state.stopped
        }
        if stopped {
            await connection.stop()
            throw MCPError.stopped(configuration.name)
        }
        do {
            let answer = try await request(
                "initialize",
                timeout: max(configuration.startTimeout, configuration.timeout),
                params: [
                    "protocolVersion": .string(Self.protocolVersion),
                    "capabilities": [:],
                    "clientInfo": ["name": "osprey", "version": "0.1"],
                ]
            )
            let info =
                "\(answer["serverInfo"]?["name"]?.stringValue ?? "?") \(answer["serverInfo"]?["version"]?.stringValue ?? "")"
            state.withLock { state in
                state.serverInfo = info
                state.capabilities = answer["capabilities"] ?? [:]
                state.crashes = 0  // the back-off grows only with crashes in a row
            }
            connection.send(["jsonrpc": "2.0", "method": "notifications/initialized"])
            logger.info(
                "MCP server started",
                metadata: [
                    "transport": "\(connection.summary)", "server": "\(info)",
                    "protocol": "\(answer["protocolVersion"]?.stringValue ?? "?")",
                ]
            )
        } catch {
            await connection.stop()
            throw error
        }
    }

    /// One message from the server, on the connection's reader thread.
    private func receive(_ message: Result<JSONValue, StdioConnectionError>) {
        let value: JSONValue
        switch message {
        case .failure(let error):
            logger.warning("MCP server sent a message that was refused", metadata: ["error": "\(error)"])
            return
        case .success(let parsed): value = parsed
        }
        if let method = value["method"]?.stringValue {
            if let id = value["id"] {
                // A request from the server.
                let answer: JSONValue =
                    method == "ping"
                    ? ["jsonrpc": "2.0", "id": id, "result": [:]]
                    : [
                        "jsonrpc": "2.0", "id": id,
                        "error": ["code": -32601, "message": "method not offered by Osprey"],
                    ]
                state.withLock { $0.connection }?.send(answer)
            } else if method == "notifications/tools/list_changed" {
                let handler = state.withLock { state in
                    state.toolsChanged = true
                    return state.onToolsChanged
                }
                handler?()
            } else if method == "notifications/progress", let token = value["params"]?["progressToken"]?.intValue,
                let hear = state.withLock({ $0.progress[token] })
            {
                let params = value["params"] ?? [:]
                let amount = [params["progress"], params["total"]].compactMap { $0?.canonicalJSON }.joined(
                    separator: "/"
                )
                hear(params["message"]?.stringValue ?? amount)
            }
            return
        }
        guard let id = value["id"]?.intValue else {
            logger.warning("MCP server sent a message with no method and no numeric id")
            return
        }
        guard let continuation = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        if let error = value["error"] {
            continuation.resume(
                throwing: MCPError.server(
                    code: error["code"]?.intValue ?? 0,
                    message: error["message"]?.stringValue ?? ""
                )
            )
        } else {
            continuation.resume(returning: value["result"] ?? .null)
        }
    }

    /// The server's process ended: calls in flight fail with its last words; the next call starts it again.
    private func exited(_ reason: String) {
        let name = configuration.name
        let (failure, detail, stopped) = state.withLock { state in
            let detail = (state.connection?.stderr ?? []).suffix(3).joined(separator: " | ")
            let failure = MCPError.exited(server: name, reason: reason, stderr: detail)
            state.connection = nil
            state.exit = failure
            if !state.stopped {
                state.crashes += 1
                let delay = Backoff(first: .seconds(1), longest: .seconds(60)).delay(after: state.crashes)
                state.restartNotBefore = elapsed() + delay
            }
            return (failure, detail, state.stopped)
        }
        if !stopped {
            logger.error("MCP server exited", metadata: ["reason": "\(reason)", "stderr": "\(detail)"])
        }
        failAll(failure)
    }
}
