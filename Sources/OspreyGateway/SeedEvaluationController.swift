import Foundation
import Hummingbird
import OspreyCore
import OspreyScheduler
import OspreyStore

/// `POST /api/seeds/{id}/evaluate`: the mechanical stage of a seed's evaluation, run now against the workspace.
///
/// Each `command` criterion runs through the agent's own `run_command` (the one check point: its sandbox, policy and
/// approvals) and passes on exit code 0; `file_exists` reads the file through `read_file`; `regex` matches the
/// file's text. No model is involved. `judge` criteria are the semantic stage, which runs inside a spec run: here
/// they come back `pending`, and the evaluation passes only when every criterion passed. The evidence of each result is
/// what decided it (the exit code and the output's tail, the matched text, the error), and the whole evaluation is a
/// `seed.evaluated` event. The checks themselves are ``SeedChecks``, which spec runs use too.
struct SeedEvaluationController {
    let operations: [String: Operation]
    let seeds: Seeds
    let ledger: Ledger

    func add(to routes: inout RouteTable) {
        routes.bind(.post, "/api/seeds/:id/evaluate", evaluate, parameters: ["id": "id"], body: true)
    }

    struct Evaluate: OperationRequest {
        static let fields: Set<String> = ["id", "agent"]
        let id: SeedRecord.ID
        let agent: String?
        init(_ fields: Fields) throws {
            id = SeedRecord.ID(try fields.string("id"))
            agent = try fields.optionalString("agent")
        }
    }

    var evaluate: Operation {
        Operation("seeds.evaluate", role: .operator) { (request: Evaluate, caller) in
            let seed = try await seeds.get(request.id)
            var results: [JSONValue] = []
            for criterion in seed.document.acceptance {
                let (status, evidence) = try await check(criterion, agent: request.agent, caller: caller)
                results.append([
                    "id": .string(criterion.id), "kind": .string(criterion.kind), "status": .string(status),
                    "evidence": .string(String(evidence.prefix(2000))), "critical": .bool(criterion.critical),
                ])
            }
            let passed = results.allSatisfy { $0["status"] == "passed" }
            let summary: JSONValue = [
                "seed": .string(seed.id.rawValue), "generation": .int(seed.generation),
                "evaluation_passed": .bool(passed), "phase_reached": "mechanical", "results": .array(results),
            ]
            try await ledger.append(EventDraft(type: .seedEvaluated, actor: caller.actor, payload: summary))
            return summary
        }
    }

    /// One criterion's status (`passed`, `failed`, `pending`) and the evidence that decided it.
    func check(
        _ criterion: SeedDocument.Criterion,
        agent: String?,
        caller: Caller
    ) async throws -> (String, String) {
        let outcome = try await SeedChecks.check(criterion) { name, arguments in
            var fields: [String: JSONValue] = ["name": .string(name), "arguments": arguments]
            if let agent { fields["agent"] = .string(agent) }
            let result = try await operations.call("tools.call", fields, as: caller)
            return (result["output"]?.stringValue ?? "", result["is_error"] == true)
        }
        return outcome
            ?? (
                "pending",
                "the semantic stage (a judge that must cite evidence) runs in a spec run (POST /api/seeds/{id}/run)"
            )
    }
}
