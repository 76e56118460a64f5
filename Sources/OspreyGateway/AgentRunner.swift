import Foundation
import HTTPTypes
import OspreyAgent
import OspreyCore
import OspreyStore

/// Runs an agent for one message in a session, for every client alike: one run per session at a time,
/// cancellable through ``RunRegistry``, every outcome recorded.
struct AgentRunner {
    let sessions: Sessions
    let ledger: Ledger
    let runtime: AgentRuntime

    struct Cancelled: Error {}

    /// The session as a door already read it to admit the request (the stream, which must answer an unknown id with
    /// a plain 404 before it starts streaming): the run takes it instead of reading it a second time.
    @TaskLocal static var admitted: Session?

    func run(
        session: Session.ID,
        content: String,
        actor: Principal,
        tainted: Bool = false,
        onEvent: @escaping @Sendable (AgentEvent) async throws -> Void
    ) async throws -> RunResult {
        if let refusal = runtime.overload.refusal(retryAfter: 30) { throw refusal }
        let record: Session
        if let admitted = Self.admitted, admitted.id == session {
            record = admitted
        } else {
            record = try await sessions.get(session)
        }
        // The session names an agent the client chose: one config.toml lacks is the request's fault, not the server's.
        guard runtime.knows(agent: record.agent) else {
            throw APIError.badRequest("no agent named '\(record.agent)' in config.toml")
        }
        var configured = try await runtime.agent(named: record.agent, persona: record.persona)
        // A door that vouches for none of what it carries (a chat channel) starts the run tainted.
        configured.startsTainted = configured.startsTainted || tainted
        let agent = configured
        // Messages to one session run one at a time, in order: a second one waits in the session's lane.
        let cancelSignal = try await runtime.runs.begin(session)
        defer { runtime.runs.end(session) }
        // The client sees at once when the run waits for a human: subscribed before the run starts, so no request
        // the run makes can be published before anyone listens.
        let approvals = ledger.bus.subscribe(where: { $0.type == .approvalRequested && $0.session == session })
        do {
            return try await withThrowingTaskGroup(of: RunResult?.self) { group in
                group.addTask { try await agent.run(content, session: session, actor: actor, onEvent: onEvent) }
                group.addTask {
                    for await _ in cancelSignal {}
                    if Task.isCancelled { return nil }
                    throw Cancelled()
                }
                group.addTask {
                    for await event in approvals { try await onEvent(.approvalRequested(event.payload)) }
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else { throw CancellationError() }
                return result
            }
        } catch is Cancelled {
            try await ledger.append(
                EventDraft(
                    type: .runCancelled,
                    actor: actor,
                    session: session,
                    payload: ["agent": .string(agent.name)]
                )
            )
            throw APIError(.conflict, "cancelled", "The run was cancelled.")
        } catch is CancellationError {
            // The caller went away (an event stream's client hung up, a WebSocket closed, the gateway is stopping)
            // and the run was cut with it: its transcript says so. Recorded outside the cancelled task, whose
            // database accesses would be interrupted.
            let name = agent.name
            _ = try await uncancelled {
                try await ledger.append(
                    EventDraft(
                        type: .runCancelled,
                        actor: actor,
                        session: session,
                        payload: ["agent": .string(name), "reason": "caller_gone"]
                    )
                )
            }
            throw CancellationError()
        } catch let error as AgentError {
            try await ledger.append(
                EventDraft(
                    type: .runFailed,
                    actor: .agent(agent.name),
                    session: session,
                    payload: ["code": .string(error.code), "error": .string(error.description)]
                )
            )
            throw error
        }
    }

    /// The result as clients receive it (the `done` event, the JSON response, `osprey ask --json`).
    static func summary(_ result: RunResult) -> JSONValue {
        [
            "response": .string(result.message.text), "session_id": .string(result.sessionID.rawValue),
            "tokens": .int(result.usage.inputTokens + result.usage.outputTokens),
            "tokens_in": .int(result.usage.inputTokens),
            "tokens_out": .int(result.usage.outputTokens), "cost_usd": .double(result.costUSD),
            "duration_ms": .int(result.durationMS),
            "turns": .int(result.turns), "exit_code": 0,
        ]
    }

    /// An agent event as a `(type, data)` pair for SSE and WebSocket frames.
    static func frame(_ event: AgentEvent) -> (String, JSONValue) {
        switch event {
        case .textDelta(let text): ("text_delta", ["text": .string(text)])
        case .toolCall(let call):
            (
                "tool_call",
                ["id": .string(call.id.rawValue), "name": .string(call.name), "arguments": .string(call.arguments)]
            )
        case .toolResult(let result):
            (
                "tool_result",
                [
                    "call_id": .string(result.callID.rawValue), "output": .string(result.output),
                    "is_error": .bool(result.isError), "untrusted": .bool(result.untrusted),
                ]
            )
        case .message(let message): ("message", ["message": message.jsonValue])
        case .compacted(let removed): ("compacted", ["removed_messages": .int(removed)])
        case .approvalRequested(let approval): ("approval_requested", approval)
        case .toolProgress(let id, let message):
            ("tool_progress", ["call_id": .string(id.rawValue), "message": .string(message)])
        }
    }
}
