import Foundation
public import OspreyCore
import OspreyProviders
import OspreyStore
import OspreyTools

/// What a run shows the model: the tool choice, the tools it starts with, the instructions, the history, and the
/// compaction that folds old turns into a summary.
extension Agent {
    /// The tool choice for the next call: `none` once the tool rounds are spent, the first-turn choice, else the API's default.
    func toolChoice(_ loop: AgentLoop) -> String? {
        if settings.maxToolRounds > 0 && loop.toolRounds >= settings.maxToolRounds { return "none" }
        return loop.turns == 1 ? settings.firstToolChoice : nil
    }

    /// The tools a run starts with: the agent's, with search_tools in front of many and load_skill when there are
    /// skills; `listed` (nil: all) are those the model is shown, `loadSkill` the skill loader when there is one.
    func runTools(skills: SkillCatalog?) -> (toolbox: Toolbox, listed: Set<String>?, loadSkill: LoadSkill?) {
        // Many tools: the model sees a core set and search_tools, and each search adds what it found for this run.
        let search = toolbox.deferring(above: settings.toolSearchThreshold)
        let loadSkill = skills.flatMap { $0.available.isEmpty ? nil : LoadSkill(catalog: $0) }
        var toolbox = search?.toolbox ?? self.toolbox
        if let loadSkill { toolbox = toolbox.adding([loadSkill]) }
        return (toolbox, search?.listed.union(loadSkill == nil ? [] : [LoadSkill.name]), loadSkill)
    }

    /// A run's first model request before its messages: the instructions and the tools the model is shown first,
    /// without what memory recall adds for the prompt (for making the model ready ahead of a first run).
    public func openingRequest() -> ModelRequest {
        let skills = self.skills?()
        let (toolbox, listed, _) = runTools(skills: skills)
        return ModelRequest(
            model: routes.first?.model ?? "",
            instructions: systemPrompt(skills: skills),
            messages: [],
            tools: toolbox.definitions.filter { listed?.contains($0.name) ?? true },
            maxTokens: settings.maxReplyTokens,
            temperature: settings.temperature,
            toolChoice: settings.firstToolChoice
        )
    }

    static let defaultInstructions =
        "You are Osprey, a careful assistant. Use the tools to read, search and change files in the workspace; paths are relative to it. Answer concisely."

    /// The agent's instructions, and the workspace's top-level entries so the model knows what it can open.
    func systemPrompt(skills: SkillCatalog?) -> String {
        var prompt = settings.instructions ?? Self.defaultInstructions
        if let section = skills?.promptSection { prompt += "\n\n" + section }
        if let entries = try? workspace.list("."), !entries.isEmpty {
            let names = entries.prefix(50).map { $0.isDirectory ? $0.name + "/" : $0.name }
            prompt += "\nFiles in the workspace: " + names.joined(separator: ", ")
        }
        return prompt
    }

    /// The session's transcript as the model should see it: after the latest compaction, its summary and what followed.
    func loadHistory(_ session: Session.ID) async throws -> [Message] {
        let (summary, tail) = try await verbatimTail(session)
        return (summary.map { [$0] } ?? []) + tail.map(\.message)
    }

    /// The latest compaction summary (if any) and the stored messages after the seq it covers.
    ///
    /// Only the messages after the summary are read: a long session's earlier transcript is not decoded at each turn.
    func verbatimTail(_ session: Session.ID) async throws -> (Message?, [StoredMessage]) {
        let (marker, stored) = try await store.sessions.transcriptTail(
            of: session,
            summaryRole: .system,
            startingWith: Self.compactionMarker
        ) { marker in
            marker.flatMap { Int($0.message.text.dropFirst(Self.compactionMarker.count).prefix { $0.isNumber }) } ?? 0
        }
        return (marker?.message, stored.filter { $0.message.role != .system })
    }

    /// Folds `messages` into one system message: a model-written summary (best effort) and a deterministic checkpoint.
    ///
    /// The summary call is a model call of the run: it is reserved against the run's limits and what it spends
    /// is added to `run` (and to the task, if any), like any other.
    func compact(_ messages: [Message], session: Session.ID, run: inout Meter.RunUsage) async throws -> Message {
        // The checkpoint is cumulative: the previous one (in the summary these messages start with) carried
        // forward, then what the newly compacted messages did.
        let summarized = messages.first.map { $0.role == .system && $0.text.hasPrefix(Self.compactionMarker) } ?? false
        let carried = summarized ? messages.first.flatMap { Checkpoint(parsing: $0.text) } : nil
        let checkpoint = (carried ?? Checkpoint()).merging(Checkpoint(Array(messages.dropFirst(summarized ? 1 : 0))))
            .text
        var summary = ""
        let request = ModelRequest(
            model: routes.first?.model ?? "",
            instructions:
                "Summarize the conversation so far in a few sentences: goals, decisions, open tasks. Plain text.",
            messages: [
                .user(
                    messages.map { "\($0.role.rawValue): \($0.text)" }.joined(separator: "\n").suffix(12_000)
                        .description
                )
            ],
            maxTokens: 400
        )
        do {
            let reservation = try await meter.reserve(
                agent: name,
                limits: settings,
                route: routes.first ?? ModelRoute(provider: "none", model: "none"),
                estimatedInput: ContextGuard.estimate(request.messages),
                maxOutput: 400,
                run: run,
                session: session,
                task: taskID
            )
            defer { meter.release(reservation) }
            let (reply, _) = try await router.respond(
                to: request,
                routes: routes,
                onEvent: { _ in },
                onAttempt: { attempt in
                    let attempt = attempt.estimatingCut(input: ContextGuard.estimate(request.messages))
                    run.tokens += attempt.usage.inputTokens + attempt.usage.outputTokens
                    run.cost += try await meter.record(attempt, agent: name, session: session, task: taskID)
                }
            )
            summary = reply.message.text
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            summary = "(no model summary: \(error))"
        }
        // Every transcript message after a leading summary is stored, in order: the compacted ones are a prefix of the tail.
        let (previous, tail) = try await verbatimTail(session)
        let compactedStored = messages.count - (previous != nil && messages.first?.role == .system ? 1 : 0)
        let through = compactedStored > 0 && compactedStored <= tail.count ? tail[compactedStored - 1].seq : 0
        let message = Message.system("\(Self.compactionMarker)\(through)]\n\(summary)\n\n\(checkpoint)")
        let compacted = EventDraft(
            type: .sessionCompacted,
            actor: .agent(name),
            session: session,
            payload: [
                "removed_messages": .int(messages.count), "through_seq": .int(through),
                "checkpoint": .string(checkpoint),
            ]
        )
        // The summary and its event commit together: a crash cannot leave one without the other.
        try await store.sessions.record(
            Sessions.Step(messages: [message], followUps: [compacted]),
            in: session,
            actor: .agent(name)
        )
        return message
    }
}
