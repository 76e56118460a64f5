import Foundation
import OspreyCore
import OspreyStore
import OspreyTools

extension SpecRunner {
    // MARK: - Evaluate

    /// An execution's evaluation, recorded once as the step `name` (a resume reads it back); its mechanical checks
    /// act in `workflows`' workspace.
    func evaluate(
        _ seed: SeedRecord,
        report: String,
        name: String,
        of task: TaskRecord,
        settings: Settings,
        workflows: WorkflowRunner,
        states: [String: WorkflowStepRecord],
        announce: Bool = true
    ) async throws -> JSONValue {
        if let recorded = try Self.recorded(name, in: states) { return recorded }
        try await store.workflowSteps.record(
            WorkflowStepRecord(name: name, status: .running),
            of: task.id,
            session: task.session
        )
        var results: [String: JSONValue] = [:]
        var stage = "mechanical"
        for criterion in seed.document.acceptance where criterion.mechanical {
            let outcome = try await SeedChecks.check(criterion) { tool, arguments in
                let result = try await workflows.callTool(
                    task.agent,
                    tool,
                    arguments,
                    task.tainted,
                    workflows.workspace
                )
                return (result.output, result.isError)
            }
            if let (status, evidence) = outcome { results[criterion.id] = Self.result(criterion, status, evidence) }
        }
        let judged = seed.document.acceptance.filter { !$0.mechanical }
        if results.values.allSatisfy({ $0["status"] == "passed" }), !judged.isEmpty {
            stage = "semantic"
            let judges = settings.judges.isEmpty ? Array(repeating: task.agent, count: 3) : settings.judges
            for criterion in judged {
                let verdict = try await workflows.judge(
                    criterion.check["judge"]?.stringValue ?? criterion.criterion,
                    output: report,
                    at: "a specification (its criterion '\(criterion.id)': \(criterion.criterion))",
                    of: task,
                    agent: judges[0],
                    tainted: task.tainted
                )
                results[criterion.id] = Self.result(criterion, verdict == nil ? "passed" : "failed", verdict ?? "")
            }
            let critical = judged.filter { $0.critical && results[$0.id]?["status"] == "passed" }
            if results.values.allSatisfy({ $0["status"] == "passed" }), !critical.isEmpty {
                stage = "consensus"
                for criterion in critical {
                    var dissent: [String] = []
                    for agent in judges.dropFirst() {
                        if let verdict = try await workflows.judge(
                            criterion.check["judge"]?.stringValue ?? criterion.criterion,
                            output: report,
                            at: "a specification (its criterion '\(criterion.id)': \(criterion.criterion))",
                            of: task,
                            agent: agent,
                            tainted: task.tainted
                        ) {
                            dissent.append("\(agent): \(verdict)")
                        }
                    }
                    results[criterion.id] = Self.result(
                        criterion,
                        dissent.isEmpty ? "passed" : "failed",
                        dissent.isEmpty
                            ? "all \(judges.count) judges passed it"
                            : "judges disagree: "
                                + dissent.joined(separator: "; "),
                        judges: judges.count
                    )
                }
            }
        }
        for criterion in judged where results[criterion.id] == nil {
            results[criterion.id] = Self.result(criterion, "pending", "not judged: an earlier stage failed")
        }
        let ordered = seed.document.acceptance.compactMap { results[$0.id] }
        let passed = ordered.allSatisfy { $0["status"] == "passed" }
        let evaluation: JSONValue = [
            "seed": .string(seed.id.rawValue), "generation": .int(seed.generation), "task": .string(task.id.rawValue),
            "evaluation_passed": .bool(passed), "stage_reached": .string(stage), "results": .array(ordered),
        ]
        try await record(evaluation, as: name, of: task, announce: announce)
        return evaluation
    }

    /// An evaluation recorded as the step `name` by an earlier attempt of the run, if there is one.
    static func recorded(_ name: String, in states: [String: WorkflowStepRecord]) throws -> JSONValue? {
        guard let done = states[name], done.status == .done, let output = done.output else { return nil }
        return try JSONValue.parse(output)
    }

    /// Records an evaluation as the step `name`, and as a `seed.evaluated` event when it is the generation's.
    func record(_ evaluation: JSONValue, as name: String, of task: TaskRecord, announce: Bool) async throws {
        if announce {
            try await store.ledger.append(
                EventDraft(type: .seedEvaluated, actor: .task(task.id), task: task.id, payload: evaluation)
            )
        }
        try await store.workflowSteps.record(
            WorkflowStepRecord(name: name, status: .done, output: evaluation.canonicalJSON, untrusted: task.tainted),
            of: task.id,
            session: task.session
        )
    }

    static func result(
        _ criterion: SeedDocument.Criterion,
        _ status: String,
        _ evidence: String,
        judges: Int? = nil
    ) -> JSONValue {
        var result: [String: JSONValue] = [
            "id": .string(criterion.id), "kind": .string(criterion.kind), "status": .string(status),
            "evidence": .string(String(evidence.prefix(2000))), "critical": .bool(criterion.critical),
        ]
        if let judges { result["judges"] = .int(judges) }
        return .object(result)
    }
}
