import OspreyCore
public import OspreyStore
import Synchronization

/// Why a run stopped between a stored tool call and its result.
public enum Interruption: String, Hashable, Sendable {
    /// A client (or the supervisor) cancelled the run.
    case cancelled
    /// The run reached its wall-time limit.
    case timeLimit = "time_limit"
    /// The run failed for another reason (the store, a budget, the model).
    case failed
    /// The gateway stopped (a crash, `kill -9`) while the run was in progress.
    case restart

    /// The error result the model reads for a call cut off this way.
    public var output: String {
        let what =
            switch self {
            case .cancelled: "the run was cancelled while this call was running"
            case .timeLimit: "the run reached its time limit while this call was running"
            case .failed: "the run failed while this call was running"
            case .restart: "the gateway stopped while this call was running"
            }
        return
            "Interrupted: \(what), so its outcome is unknown. It was not run again; check its effects before repeating it."
    }
}

/// The tool calls a run has stored but not yet answered, and whether its time ran out: shared between the
/// run and the driver that races it against its time limit, so the driver can answer them when the run is cut.
final class OpenCalls: Sendable {
    private let state = Mutex<(calls: [ToolCall], timedOut: Bool)>(([], false))

    /// The run stored an assistant message asking for `calls`.
    func opened(_ calls: [ToolCall]) { state.withLock { $0.calls = calls } }

    /// The run stored the results of the open calls.
    func answered() { state.withLock { $0.calls = [] } }

    /// The calls still open.
    var calls: [ToolCall] { state.withLock { $0.calls } }

    /// The wall-time limit fired.
    func timeRanOut() { state.withLock { $0.timedOut = true } }

    /// Whether the wall-time limit fired.
    var timedOut: Bool { state.withLock { $0.timedOut } }
}

/// Runs `body` to its end even when the calling task is being cancelled, and waits for it.
///
/// GRDB interrupts the database accesses of a cancelled task, but a tool call's outcome must reach the
/// transcript and the ledger even when (especially when) its run is being cancelled. An unstructured task
/// does not inherit the cancellation; it does inherit task-local values, so its events keep their task id.
/// The caller still awaits it, so nothing outlives the run.
public func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await body() }.value
}

extension Agent {
    /// Answers `calls` with an error result saying why they were cut off, with a `tool.call.interrupted` event
    /// each, in one transaction; `note` (an assistant message marking the run interrupted) and its
    /// `run.interrupted` event commit with them. Runs to its end even if the caller is being cancelled.
    static func close(
        _ calls: [ToolCall],
        in session: Session.ID,
        because reason: Interruption,
        actor: Principal,
        note: Message? = nil,
        store: Store
    ) async throws {
        guard !calls.isEmpty || note != nil else { return }
        let results = calls.map { ToolResult(callID: $0.id, output: reason.output, isError: true) }
        let events = calls.map { call in
            EventDraft(
                type: .toolCallInterrupted,
                actor: actor,
                session: session,
                payload: [
                    "tool": .string(call.name), "call_id": .string(call.id.rawValue),
                    "reason": .string(reason.rawValue),
                ]
            )
        }
        var messages = calls.isEmpty ? [] : [Message(role: .tool, content: results.map(Content.toolResult))]
        var followUps: [EventDraft] = []
        if let note {
            messages.append(note)
            followUps.append(
                EventDraft(
                    type: .runInterrupted,
                    actor: actor,
                    session: session,
                    payload: ["reason": .string(reason.rawValue), "closed_calls": .int(calls.count)]
                )
            )
        }
        let step = Sessions.Step(events: events, messages: messages, followUps: followUps)
        try await uncancelled {
            try await store.sessions.record(step, in: session, actor: actor)
        }
    }

    /// What the transcript says about an interactive run the gateway's stop cut short.
    public static let interruptedRunNote =
        "(This run was interrupted: the gateway stopped before it finished. Ask again to continue.)"

    /// Closes the interactive runs a stopped gateway cut short, at start-up: every tool call left without a
    /// result is answered "interrupted" (with `tool.call.interrupted`), and the transcript gets an assistant
    /// note marking the run interrupted (with `run.interrupted`), so the session can go on.
    ///
    /// Sessions of queued or running tasks are left alone: the supervisor resumes them. Returns how many
    /// sessions were closed.
    @discardableResult
    public static func closeInterruptedRuns(in store: Store) async throws -> Int {
        let cut = try await store.sessions.interruptedRuns()
        var closed = 0
        for last in cut {
            // On a database other gateways share, a session whose lane another gateway holds is a run under way
            // there, not one this gateway's stop cut: it is left alone.
            if let lanes = store.lanes, try await !lanes.tryAcquire(last.sessionID) { continue }
            defer { store.lanes?.release(last.sessionID) }
            closed += 1
            try await close(
                last.message.role == .assistant ? last.message.toolCalls : [],
                in: last.sessionID,
                because: .restart,
                actor: .system,
                note: .assistant(interruptedRunNote),
                store: store
            )
        }
        return closed
    }
}
