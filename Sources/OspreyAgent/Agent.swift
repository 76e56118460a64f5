import Foundation
public import OspreyCore
public import OspreyProviders
public import OspreySandbox
public import OspreyStore
public import OspreyTools

/// What a running agent reports to whoever is watching (SSE, WebSocket, the CLI).
public enum AgentEvent: Hashable, Sendable {
    /// More of the answer, as it streams. Not ledgered; the final message is.
    case textDelta(String)
    /// The model asked for a tool.
    case toolCall(ToolCall)
    /// A tool answered.
    case toolResult(ToolResult)
    /// A complete assistant message.
    case message(Message)
    /// Older turns were folded into a summary.
    case compacted(removedMessages: Int)
    /// A tool call waits for a human's approval (the `approval.requested` event's payload).
    case approvalRequested(JSONValue)
    /// A running tool call said how it is getting on (an MCP server's progress). Not ledgered.
    case toolProgress(callID: ToolCall.ID, message: String)
}

/// How a run ended.
public struct RunResult: Hashable, Sendable {
    public var message: Message
    public var sessionID: Session.ID
    public var usage: Usage
    public var costUSD: Double
    public var turns: Int
    public var durationMS: Int
    /// Whether untrusted content was in the run's context (it started tainted, recalled an untrusted memory, or
    /// read an untrusted tool result): then its answer is untrusted wherever it is kept.
    public var tainted = true
}

/// One configured agent: its model routes, tools, limits and budgets, and the driver that runs its loop.
public struct Agent: Sendable {
    public let name: String
    public let settings: OspreyConfig.Agent
    public let routes: [ModelRoute]
    let router: Router
    let toolbox: Toolbox
    let store: Store
    let meter: Meter
    let workspace: Workspace
    let commandPolicy: CommandPolicy
    let sandbox: Sandbox
    /// Where tool calls that need a human wait; nil refuses them.
    let approvals: (any ApprovalGate)?
    /// Directories beside the workspace the agent's capabilities open.
    let roots: [FileRoot]
    /// Sleeps out a run's wall-time limit (`max_wall_seconds`); injected so tests advance time instead of waiting.
    let waitOutLimit: @Sendable (Duration) async throws -> Void
    /// Starts a stopwatch on the same clock: how many seconds of the limit have passed, read between the loop's
    /// steps. (On the wall clock, a loaded machine once spent a test's whole limit before the model's reply, while the
    /// test's own clock said no time had passed.)
    let limitStopwatch: @Sendable () -> @Sendable () -> Double
    /// The background task this agent runs for, if any.
    public var taskID: TaskRecord.ID?
    /// Relevant long-term memories for a prompt, added to the system prompt (background, never user words).
    public var recall: (@Sendable (String) async -> Recall?)?
    /// Reads the skills this agent may load (`load_skill`), once at the start of each run, so a skill added between
    /// runs is there for the next one; their names and descriptions go into the system prompt.
    public var skills: (@Sendable () -> SkillCatalog)?
    /// True when the run starts with untrusted content already behind it (a task delegated or scheduled by a
    /// tainted run): its commands and network calls need a human from the first call.
    public var startsTainted = false

    /// Marks the system message that stands for compacted turns; the seq after it is where verbatim history resumes.
    public static let compactionMarker = "[compacted through message "

    public init(
        name: String,
        settings: OspreyConfig.Agent,
        routes: [ModelRoute],
        router: Router,
        toolbox: Toolbox,
        store: Store,
        meter: Meter,
        workspace: Workspace,
        commandPolicy: CommandPolicy = CommandPolicy(),
        sandbox: Sandbox = Sandbox(rung: .bare),
        approvals: (any ApprovalGate)? = nil,
        clock: some Clock<Duration> & Sendable = ContinuousClock()
    ) {
        self.approvals = approvals
        self.waitOutLimit = { try await clock.sleep(for: $0) }
        self.limitStopwatch = {
            let start = clock.now
            return { start.duration(to: clock.now).timeInterval }
        }
        self.roots =
            settings.readRoots.compactMap { FileRoot(path: $0, writable: false) }
            + settings.writeRoots.compactMap { FileRoot(path: $0, writable: true) }
        self.commandPolicy = commandPolicy
        self.sandbox = sandbox
        self.name = name
        self.settings = settings
        self.routes = routes
        self.router = router
        self.toolbox = settings.tools.map { toolbox.restricted(to: $0) } ?? toolbox
        self.store = store
        self.meter = meter
        self.workspace = workspace
    }

    public var toolNames: [String] { toolbox.names }

    /// The definitions of the tools this agent may call.
    public var toolDefinitions: [ToolDefinition] { toolbox.definitions }

    /// Runs the loop for one user message in a session until the model answers, a limit is hit, or the caller cancels.
    ///
    /// The user message, every assistant message and every tool result are stored in the session (with their
    /// events) as they happen, so an interrupted run leaves an accurate transcript.
    public func run(
        _ prompt: String,
        session: Session.ID,
        actor: Principal,
        onEvent: @escaping @Sendable (AgentEvent) async throws -> Void
    ) async throws -> RunResult {
        try await forTask {
            let history = try await loadHistory(session)
            // The prompt is written and synced while the model is asked, with the message as the store keeps it
            // (a secret typed into it redacted). Nothing of the run reaches the caller or the store before the
            // prompt is durable: every event, a failed call's record, the reply (``PromptWrite``).
            let kept = store.ledger.redactor.redact(Message.user(prompt))
            let write = PromptWrite(Task { try await store.sessions.append(kept, to: session, actor: actor).0 })
            do {
                let result = try await drive(
                    history: history,
                    prompt: kept,
                    session: session,
                    promptWrite: write
                ) { event in
                    try await write.stored()
                    try await onEvent(event)
                }
                try await write.stored()
                return result
            } catch {
                // The prompt is kept whatever became of the run, as when it was written first; if its write failed,
                // that is the run's error.
                try await write.stored()
                throw error
            }
        }
    }

    /// Runs a background task as this agent: fresh, or, when `resume` is set and its session already holds a step
    /// (the gateway died mid-run), continued from its transcript. Every event carries the task's id; a task
    /// delegated or scheduled by a tainted run is tainted from its first step.
    public func perform(_ task: TaskRecord, resume: Bool) async throws -> RunResult {
        var agent = self
        agent.taskID = task.id
        agent.startsTainted = agent.startsTainted || task.tainted
        // Only a resumed task asks whether its session holds a step: a fresh one skips the read.
        if resume, try await !store.sessions.messages(of: task.session, limit: 1).isEmpty {
            return try await agent.resume(session: task.session) { _ in }
        }
        return try await agent.run(task.instructions, session: task.session, actor: .task(task.id)) { _ in }
    }

    /// Runs `body` with the agent's task (if any) as the task of every event it produces.
    func forTask<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard let taskID, EventDraft.currentTask != taskID else { return try await body() }
        return try await EventDraft.$currentTask.withValue(taskID) { try await body() }
    }

    /// Continues a session's run from its last stored step, after the gateway died mid-run.
    ///
    /// Nothing that finished is repeated: its result is in the transcript. Tool calls the transcript shows as
    /// requested but not answered had an unknown outcome; they are not run again but answered with an
    /// "interrupted" error result (and a `tool.call.interrupted` event), so the model (or, for a dangerous
    /// call it repeats, the human the policy asks) decides what to do. A run whose answer was already stored
    /// finishes with that answer without calling the model.
    public func resume(
        session: Session.ID,
        onEvent: @escaping @Sendable (AgentEvent) async throws -> Void
    ) async throws -> RunResult {
        try await forTask { try await resumeForTask(session: session, onEvent: onEvent) }
    }

    private func resumeForTask(
        session: Session.ID,
        onEvent: @escaping @Sendable (AgentEvent) async throws -> Void
    ) async throws -> RunResult {
        var history = try await loadHistory(session)
        guard let last = history.last else { throw AgentError.model("the session has nothing to resume") }
        if last.role == .assistant, !last.toolCalls.isEmpty {
            try await Self.close(
                last.toolCalls,
                in: session,
                because: .restart,
                actor: .agent(name),
                store: store
            )
            let results = last.toolCalls.map {
                ToolResult(callID: $0.id, output: Interruption.restart.output, isError: true)
            }
            history.append(Message(role: .tool, content: results.map(Content.toolResult)))
        } else if last.role == .assistant {
            return RunResult(message: last, sessionID: session, usage: Usage(), costUSD: 0, turns: 0, durationMS: 0)
        }
        let prompt = history.removeLast()
        return try await drive(history: history, prompt: prompt, session: session, onEvent: onEvent)
    }

    /// Runs the loop from `history` + `prompt` under the wall-time limit; `promptWrite` is the prompt's write when it
    /// is still under way.
    func drive(
        history: [Message],
        prompt: Message,
        session: Session.ID,
        promptWrite: PromptWrite? = nil,
        onEvent: @escaping @Sendable (AgentEvent) async throws -> Void
    ) async throws -> RunResult {
        let clock = ContinuousClock()
        let start = clock.now
        let limit = Duration.seconds(settings.maxWallSeconds)
        let spent = limitStopwatch()
        let open = OpenCalls()
        do {
            // The wall-time limit covers everything, including one slow model or tool call: race the run against it.
            return try await withThrowingTaskGroup(of: RunResult?.self) { group in
                group.addTask {
                    var run = await AgentRun(
                        agent: self,
                        history: history,
                        prompt: prompt,
                        session: session,
                        open: open,
                        promptWrite: promptWrite,
                        elapsed: spent,
                        onEvent: onEvent
                    )
                    return try await run.complete(start: start, clock: clock)
                }
                group.addTask {
                    try await waitOutLimit(limit)
                    open.timeRanOut()
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw AgentError.timeLimit(seconds: settings.maxWallSeconds)
                }
                return result
            }
        } catch {
            // The run has stopped (the group waited for it). A call it stored but never answered gets its
            // outcome now, before the run ends, so the session stays valid for the next message.
            let reason: Interruption =
                if open.timedOut || error as? AgentError == .timeLimit(seconds: settings.maxWallSeconds) {
                    .timeLimit
                } else if error is CancellationError {
                    .cancelled
                } else {
                    .failed
                }
            try await Self.close(open.calls, in: session, because: reason, actor: .agent(name), store: store)
            throw error
        }
    }
}

/// The write of a run's prompt, under way while the model is asked (``Agent/run(_:session:actor:onEvent:)``): what
/// must come after the prompt in the transcript, the ledger or the caller's stream waits for ``stored()`` first.
struct PromptWrite: Sendable {
    let write: Task<StoredMessage, any Error>

    init(_ write: Task<StoredMessage, any Error>) { self.write = write }

    /// Returns once the prompt is durable; throws the write's error if it failed.
    func stored() async throws { _ = try await write.value }
}
