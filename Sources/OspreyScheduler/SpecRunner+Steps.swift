import Foundation
import OspreyCore
import OspreyStore
import OspreyTools

extension SpecRunner {
    // MARK: - Checkpoints

    /// The checkpoint before a generation executes, recorded as the step `name` (a resume uses the same one); nil
    /// without checkpoints (no git), which the step's error says.
    func checkpoint(
        _ name: String,
        label: String,
        of task: TaskRecord,
        states: [String: WorkflowStepRecord]
    ) async throws -> String? {
        if let done = states[name] { return done.status == .done ? done.output : nil }
        guard let checkpoints else { return nil }
        var step = WorkflowStepRecord(name: name, status: .done)
        do {
            step.output = try await checkpoints.create(label)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The run goes on without a way back; the step says why.
            step.status = .failed
            step.error = "no checkpoint: \(error)"
        }
        try await store.workflowSteps.record(step, of: task.id, session: task.session)
        return step.output
    }

    /// Puts the workspace back as it was before a generation that failed its evaluation (once: recorded as `name`).
    func rollBack(
        _ name: String,
        to checkpoint: String,
        of task: TaskRecord,
        states: [String: WorkflowStepRecord]
    ) async throws {
        guard states[name]?.status != .done, let checkpoints else { return }
        try await checkpoints.restore(checkpoint)
        try await store.workflowSteps.record(
            WorkflowStepRecord(name: name, status: .done, output: checkpoint),
            of: task.id,
            session: task.session
        )
    }

    // MARK: - Gates

    /// Waits for a human's decision on the gate `name` (recorded as a step, so a resumed run does not ask again):
    /// nil when granted, else why not.
    func approve(
        _ name: String,
        what: JSONValue,
        reason: String,
        of task: TaskRecord,
        states: [String: WorkflowStepRecord]
    ) async throws -> String? {
        var decided = states[name]
        if decided == nil { decided = try await store.workflowSteps.steps(of: task.id)[name] }
        if let decided, decided.status != .running {
            return decided.status == .done ? nil : decided.error ?? "refused"
        }
        guard let gate else { throw WorkflowRunner.Failure(description: "no approval desk for a gated spec run") }
        let arguments = what.canonicalJSON
        try await store.workflowSteps.record(
            WorkflowStepRecord(name: name, status: .running),
            of: task.id,
            session: task.session
        )
        let outcome = try await gate.decide(
            ApprovalRequest(
                agent: task.agent,
                session: task.session,
                callID: "\(task.id.rawValue)/\(name)",
                tool: "spec_gate",
                arguments: arguments,
                argumentsHash: Event.sha256Hex("spec_gate\n" + arguments),
                risk: .dangerous,
                rule: "spec-run",
                reason: reason
            )
        )
        let refusal: String? =
            switch outcome {
            case .granted: nil
            case .denied(_, let by): "denied by \(by)"
            case .expired: "nobody answered in time"
            }
        try await store.workflowSteps.record(
            WorkflowStepRecord(name: name, status: refusal == nil ? .done : .failed, error: refusal),
            of: task.id,
            session: task.session
        )
        return refusal
    }

    // MARK: - Steps

    /// A phase answered by a sub-task of the run, recorded as the step `name`: its recorded answer on a resume, the
    /// sub-task it started waited for again, or a new sub-task.
    func ask(
        _ name: String,
        prompt: String,
        persona: String?,
        of task: TaskRecord,
        states: [String: WorkflowStepRecord]
    ) async throws -> String {
        if let done = states[name], done.status == .done { return done.output ?? "" }
        let child: TaskRecord
        if let running = states[name]?.child {
            child = try await store.tasks.get(running)
        } else {
            var draft = Tasks.Draft(
                title: "spec: \(name)",
                instructions: prompt,
                agent: task.agent,
                tools: task.tools,
                priority: task.priority,
                parent: task.id,
                tainted: task.tainted
            )
            draft.persona = persona
            child = try await store.workflowSteps.startPrompt(
                name,
                of: task.id,
                session: task.session,
                draft: draft,
                actor: .system
            )
        }
        let (output, untrusted) = try await workflows.outcome(of: child.id)
        try await store.workflowSteps.record(
            WorkflowStepRecord(name: name, status: .done, child: child.id, output: output, untrusted: untrusted),
            of: task.id,
            session: task.session
        )
        return output
    }

}
