import OspreyCore
import OspreyProviders
import OspreyStore
import OspreyTools

/// One run of an agent's loop, from its prompt to its answer: what it shows the model, what it has spent and read so
/// far, and its two kinds of step (ask the model, run the tools it asked for).
///
/// ``AgentLoop`` decides what comes next and does no I/O; a step does the I/O it asks for (the model through the
/// router, the tools through the policy) and stores its outcome in one transaction, in order: prompt, reply with its
/// charge and its calls' requests and decisions, then the calls' outcomes with the tool message.
struct AgentRun {
    let agent: Agent
    let session: Session.ID
    let actor: Principal
    /// The tool calls stored but not yet answered, for whoever cuts the run short to answer.
    let open: OpenCalls
    /// The prompt's write when it is still under way: what comes after it waits for it.
    let promptWrite: PromptWrite?
    /// Seconds of the time limit spent, on the limit's clock (the run's duration is reported on the wall clock).
    let elapsed: @Sendable () -> Double
    let onEvent: @Sendable (AgentEvent) async throws -> Void
    var loop: AgentLoop
    var usage = Usage()
    var spending = Meter.RunUsage()
    var context: ToolContext
    /// Every tool the run may show or call (with `load_skill` when it offers skills).
    let toolbox: Toolbox
    let loadSkill: LoadSkill?
    /// The tools listed to the model so far (nil: all); a `search_tools` call lists more.
    var listed: Set<String>?
    /// A loaded skill's allowed-tools narrow what the model sees and may call for the rest of the run.
    var narrowed: Set<String>?
    let guardrail: ContextGuard
    let instructions: String
    /// Whether the run began with untrusted content behind it: it starts tainted, or recalled an untrusted memory.
    let inheritedTaint: Bool

    init(
        agent: Agent,
        history: [Message],
        prompt: Message,
        session: Session.ID,
        open: OpenCalls,
        promptWrite: PromptWrite?,
        elapsed: @escaping @Sendable () -> Double,
        onEvent: @escaping @Sendable (AgentEvent) async throws -> Void
    ) async {
        self.agent = agent
        self.session = session
        self.actor = .agent(agent.name)
        self.open = open
        self.promptWrite = promptWrite
        self.elapsed = elapsed
        self.onEvent = onEvent
        let settings = agent.settings
        loop = AgentLoop(
            history: history,
            prompt: prompt,
            maxTurns: settings.maxTurns,
            maxSeconds: settings.maxWallSeconds
        )
        context = agent.toolContext(session: session)
        let skills = agent.skills?()
        let tools = agent.runTools(skills: skills)
        (toolbox, listed, loadSkill) = (tools.toolbox, tools.listed, tools.loadSkill)
        guardrail = ContextGuard(threshold: settings.contextTokens)
        var instructions = agent.systemPrompt(skills: skills)
        var recalledUntrusted = false
        if let recall = agent.recall, let background = await recall(prompt.text) {
            instructions += "\n\n" + background.text
            // An untrusted memory in the system prompt is untrusted content in the context like any other.
            recalledUntrusted = background.untrusted
        }
        self.instructions = instructions
        inheritedTaint = agent.startsTainted || recalledUntrusted
    }

    /// Takes steps until the loop finishes or fails; `start` is when the run began, on `clock`, for its duration.
    mutating func complete(start: ContinuousClock.Instant, clock: ContinuousClock) async throws -> RunResult {
        var action = loop.start(elapsedSeconds: elapsed())
        while true {
            try Task.checkCancellation()
            switch action {
            case .callModel(let messages):
                action = try await callModel(messages)
            case .callTools(let calls):
                action = try await callTools(calls)
            case .finish(let message):
                let (seconds, attoseconds) = (clock.now - start).components
                return RunResult(
                    message: message,
                    sessionID: session,
                    usage: usage,
                    costUSD: spending.cost,
                    turns: loop.turns,
                    durationMS: Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000),
                    tainted: inheritedTaint || readUntrusted()
                )
            case .fail(let error):
                throw error
            }
        }
    }

    /// The tools shown to the model now.
    func offered() -> [ToolDefinition] {
        toolbox.definitions.filter { tool in
            (listed?.contains(tool.name) ?? true) && (narrowed?.contains(tool.name) ?? true)
        }
    }

    /// The tools the model may call now.
    func callable() -> Toolbox { narrowed.map { toolbox.restricted(to: Array($0)) } ?? toolbox }

    /// Whether a tool result in the transcript so far is untrusted content.
    func readUntrusted() -> Bool {
        loop.transcript.contains { message in
            message.content.contains {
                if case .toolResult(let result) = $0 { result.untrusted } else { false }
            }
        }
    }

    /// Asks the model (compacting older turns first when they would overflow its context), and stores its reply with
    /// what it cost, the calls it asks for and the policy's decisions on them.
    mutating func callModel(_ transcript: [Message]) async throws -> AgentLoop.Action {
        let (agent, settings, session, actor, promptWrite) = (agent, agent.settings, session, actor, promptWrite)
        let (meter, name, taskID, onEvent) = (agent.meter, agent.name, agent.taskID, onEvent)
        var messages = transcript
        let tools = offered()
        if let count = guardrail.compactionCount(messages, instructions: instructions, tools: tools) {
            try await promptWrite?.stored()  // the summary's message comes after the prompt's
            let summary = try await agent.compact(Array(messages.prefix(count)), session: session, run: &spending)
            loop.compact(replacingFirst: count, with: summary)
            messages = loop.transcript
            try await onEvent(.compacted(removedMessages: count))
        }
        let request = ModelRequest(
            model: agent.routes.first?.model ?? "",
            instructions: instructions,
            messages: messages,
            tools: tools,
            maxTokens: settings.maxReplyTokens,
            temperature: settings.temperature,
            toolChoice: agent.toolChoice(loop)
        )
        let estimate = ContextGuard.estimate(messages, instructions: instructions, tools: tools)
        let reservation = try await meter.reserve(
            agent: name,
            limits: settings,
            route: agent.routes.first ?? ModelRoute(provider: "none", model: "none"),
            estimatedInput: estimate,
            maxOutput: settings.maxReplyTokens,
            run: spending,
            session: session,
            task: taskID
        )
        defer { meter.release(reservation) }
        let reply: ModelReply
        var answered: CallAttempt?
        var counted = (usage: usage, spending: spending)
        do {
            (reply, _) = try await agent.router.respond(
                to: request,
                routes: agent.routes,
                onEvent: { event in
                    if case .textDelta(let text) = event { try await onEvent(.textDelta(text)) }
                },
                onAttempt: { attempt in
                    let attempt = attempt.estimatingCut(input: estimate)
                    counted.usage = counted.usage + attempt.usage
                    counted.spending.tokens += attempt.usage.inputTokens + attempt.usage.outputTokens
                    // The successful call is recorded with the message it produced, in one transaction.
                    guard attempt.outcome != .ok else {
                        answered = attempt
                        return
                    }
                    // Owed if the store does not take it now: made, and maybe paid for, all the same.
                    counted.spending.cost += try await meter.record(
                        attempt,
                        agent: name,
                        session: session,
                        task: taskID
                    ) {
                        try await promptWrite?.stored()
                    }
                }
            )
        } catch let error as ProviderError {
            throw AgentError.model(error.description)
        }
        (usage, spending) = counted
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
        // What comes next is decided before the reply is stored (the loop does no I/O): the calls it will run are
        // judged by the policy now, and their decisions are stored with the reply that asks for them.
        let action = loop.modelReplied(reply.message, elapsedSeconds: elapsed())
        if case .callTools(let calls) = action {
            // Once untrusted content is in the context, commands need a human whatever the approval mode.
            context.tainted = inheritedTaint || readUntrusted()
            context.recordedDecisions = callable().judge(calls, context: context)
        }
        let decisions = reply.message.toolCalls.compactMap { context.recordedDecisions[$0.id] }
        try await promptWrite?.stored()
        do {
            try await agent.store.sessions.record(
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
        spending.cost += charge?.costUSD ?? 0
        try await onEvent(.message(reply.message))
        return action
    }

    /// Runs the calls the model asked for (each judged when its reply was stored), and stores their outcomes with the
    /// tool message the model will see next.
    mutating func callTools(_ calls: [ToolCall]) async throws -> AgentLoop.Action {
        let (store, session, actor, onEvent) = (agent.store, session, actor, onEvent)
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
        // The outcomes and the tool message the model will see commit together, even if the run is being cancelled
        // right now: the tools ran, so their results are kept.
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
        return loop.toolsReturned(results, elapsedSeconds: elapsed())
    }
}
