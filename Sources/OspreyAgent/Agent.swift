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
                    try await loop(
                        history: history,
                        prompt: prompt,
                        session: session,
                        start: start,
                        clock: clock,
                        spent: spent,
                        open: open,
                        promptWrite: promptWrite,
                        onEvent: onEvent
                    )
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

    private func loop(
        history: [Message],
        prompt: Message,
        session: Session.ID,
        start: ContinuousClock.Instant,
        clock: ContinuousClock,
        spent: @Sendable () -> Double,
        open: OpenCalls,
        promptWrite: PromptWrite?,
        onEvent: @escaping @Sendable (AgentEvent) async throws -> Void
    ) async throws -> RunResult {
        let actor = Principal.agent(name)
        var loop = AgentLoop(
            history: history,
            prompt: prompt,
            maxTurns: settings.maxTurns,
            maxSeconds: settings.maxWallSeconds
        )
        var usage = Usage()
        var run = Meter.RunUsage()
        var context = toolContext(session: session)
        let skills = self.skills?()
        let (toolbox, shown, loadSkill) = runTools(skills: skills)
        var listed = shown
        // A loaded skill's allowed-tools narrow what the model sees and may call for the rest of the run.
        var narrowed: Set<String>?
        func offered() -> [ToolDefinition] {
            toolbox.definitions.filter { tool in
                (listed?.contains(tool.name) ?? true) && (narrowed?.contains(tool.name) ?? true)
            }
        }
        /// The tools the model may call now.
        func callable() -> Toolbox { narrowed.map { toolbox.restricted(to: Array($0)) } ?? toolbox }
        let guardrail = ContextGuard(threshold: settings.contextTokens)
        var instructions = systemPrompt(skills: skills)
        var recalledUntrusted = false
        if let recall, let background = await recall(prompt.text) {
            instructions += "\n\n" + background.text
            // An untrusted memory in the system prompt is untrusted content in the context like any other.
            recalledUntrusted = background.untrusted
        }
        let inheritedTaint = startsTainted || recalledUntrusted
        /// Whether a tool result in the transcript so far is untrusted content.
        func readUntrusted() -> Bool {
            loop.transcript.contains { message in
                message.content.contains {
                    if case .toolResult(let result) = $0 { result.untrusted } else { false }
                }
            }
        }
        /// Seconds of the time limit spent, on the limit's clock (the run's duration is reported on the wall clock).
        func elapsed() -> Double { spent() }
        var action = loop.start(elapsedSeconds: elapsed())
        while true {
            try Task.checkCancellation()
            switch action {
            case .callModel(var messages):
                let tools = offered()
                if let count = guardrail.compactionCount(
                    messages,
                    instructions: instructions,
                    tools: tools
                ) {
                    try await promptWrite?.stored()  // the summary's message comes after the prompt's
                    let summary = try await compact(Array(messages.prefix(count)), session: session, run: &run)
                    loop.compact(replacingFirst: count, with: summary)
                    messages = loop.transcript
                    try await onEvent(.compacted(removedMessages: count))
                }
                let request = ModelRequest(
                    model: routes.first?.model ?? "",
                    instructions: instructions,
                    messages: messages,
                    tools: tools,
                    maxTokens: settings.maxReplyTokens,
                    temperature: settings.temperature,
                    toolChoice: toolChoice(loop)
                )
                let estimate = ContextGuard.estimate(
                    messages,
                    instructions: instructions,
                    tools: tools
                )
                let reservation = try await meter.reserve(
                    agent: name,
                    limits: settings,
                    route: routes.first ?? ModelRoute(provider: "none", model: "none"),
                    estimatedInput: estimate,
                    maxOutput: settings.maxReplyTokens,
                    run: run,
                    session: session,
                    task: taskID
                )
                defer { meter.release(reservation) }
                let reply: ModelReply
                var answered: CallAttempt?
                do {
                    (reply, _) = try await router.respond(
                        to: request,
                        routes: routes,
                        onEvent: { event in
                            if case .textDelta(let text) = event { try await onEvent(.textDelta(text)) }
                        },
                        onAttempt: { attempt in
                            let attempt = attempt.estimatingCut(input: estimate)
                            usage = usage + attempt.usage
                            run.tokens += attempt.usage.inputTokens + attempt.usage.outputTokens
                            // The successful call is recorded with the message it produced, in one transaction.
                            guard attempt.outcome != .ok else {
                                answered = attempt
                                return
                            }
                            // Owed if the store does not take it now: made, and maybe paid for, all the same.
                            run.cost += try await meter.record(attempt, agent: name, session: session, task: taskID) {
                                try await promptWrite?.stored()
                            }
                        }
                    )
                } catch let error as ProviderError {
                    throw AgentError.model(error.description)
                }
                let settled = answered
                // The calls the reply asks for are requested in the same transaction as the message itself.
                let requested = reply.message.toolCalls.map { call in
                    EventDraft(
                        type: .toolCallRequested,
                        actor: actor,
                        session: session,
                        payload: [
                            "tool": .string(call.name), "call_id": .string(call.id.rawValue),
                            "arguments": .string(call.arguments),
                        ]
                    )
                }
                let charge = settled.map { meter.charge(for: $0, agent: name, session: session, task: taskID) }
                // What comes next is decided before the reply is stored (the loop does no I/O): the calls it will run
                // are judged by the policy now, and their decisions are stored with the reply that asks for them.
                action = loop.modelReplied(reply.message, elapsedSeconds: elapsed())
                if case .callTools(let calls) = action {
                    // Once untrusted content is in the context, commands need a human whatever the approval mode.
                    context.tainted = inheritedTaint || readUntrusted()
                    context.recordedDecisions = callable().judge(calls, context: context)
                }
                let decisions = reply.message.toolCalls.compactMap { context.recordedDecisions[$0.id] }
                try await promptWrite?.stored()
                do {
                    try await store.sessions.record(
                        Sessions.Step(charge: charge, messages: [reply.message], followUps: requested + decisions),
                        in: session,
                        actor: actor
                    )
                } catch let error as StoreError where error.isUnavailable {
                    // The call was made and paid for: what it cost is recorded once the store takes writes again.
                    if let charge { meter.owe(charge) }
                    throw error
                }
                // From here until their results are stored, the calls are open: a cut run answers them.
                open.opened(reply.message.toolCalls)
                run.cost += charge?.costUSD ?? 0
                try await onEvent(.message(reply.message))
            case .callTools(let calls):
                for call in calls { try await onEvent(.toolCall(call)) }
                defer { context.recordedDecisions = [:] }
                // A tool may read a secret (a key in a file, an env dump): the model and the transcript get it redacted.
                let redactor = store.ledger.redactor
                // Progress of the calls (an MCP server's notifications) reaches the caller's stream as it comes.
                let (progress, heard) = AsyncStream<AgentEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
                var calling = context
                calling.progress = { id, message in heard.yield(.toolProgress(callID: id, message: message)) }
                let relay = Task {
                    for await event in progress { try? await onEvent(event) }
                }
                defer {
                    heard.finish()
                    relay.cancel()
                }
                let results = try await callable().callAll(calls, context: calling).map { result in
                    ToolResult(
                        callID: result.callID,
                        output: redactor.redact(result.output),
                        isError: result.isError,
                        untrusted: result.untrusted
                    )
                }
                // Every progress the calls reported reaches the caller before their results do.
                heard.finish()
                await relay.value
                for (call, result) in zip(calls, results) where !result.isError {
                    if call.name == SearchTools.name { listed?.formUnion(SearchTools.activated(by: result.output)) }
                    if call.name == LoadSkill.name, let allowed = loadSkill?.narrowing(for: call.arguments) {
                        // Never wider than what the run has: the skill's tools it holds, and load_skill itself.
                        let held = Set(toolbox.names)
                        narrowed = (narrowed ?? held).intersection(allowed + [LoadSkill.name])
                    }
                }
                let outcomes = zip(calls, results).map { call, result in
                    EventDraft(
                        type: result.isError ? .toolCallFailed : .toolCallCompleted,
                        actor: actor,
                        session: session,
                        payload: [
                            "tool": .string(call.name), "call_id": .string(call.id.rawValue),
                            "output": .string(String(result.output.prefix(2000))),
                            "output_bytes": .int(result.output.utf8.count), "untrusted": .bool(result.untrusted),
                        ]
                    )
                }
                // The outcomes and the tool message the model will see commit together, even if the run is being
                // cancelled right now: the tools ran, so their results are kept.
                let toolMessage = Message(role: .tool, content: results.map(Content.toolResult))
                try await uncancelled {
                    try await store.sessions.record(
                        Sessions.Step(events: outcomes, messages: [toolMessage]),
                        in: session,
                        actor: actor
                    )
                }
                open.answered()
                for result in results { try await onEvent(.toolResult(result)) }
                action = loop.toolsReturned(results, elapsedSeconds: elapsed())
            case .finish(let message):
                let (seconds, attoseconds) = (clock.now - start).components
                return RunResult(
                    message: message,
                    sessionID: session,
                    usage: usage,
                    costUSD: run.cost,
                    turns: loop.turns,
                    durationMS: Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000),
                    tainted: inheritedTaint || readUntrusted()
                )
            case .fail(let error):
                throw error
            }
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
