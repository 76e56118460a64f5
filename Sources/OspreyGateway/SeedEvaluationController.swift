import Foundation
import Hummingbird
import OspreyCore
import OspreyStore

/// `POST /api/seeds/{id}/evaluate`: the mechanical stage of a seed's evaluation, run now against the workspace.
///
/// Each `command` criterion runs through the agent's own `run_command` (the one check point: its sandbox, policy and
/// approvals) and passes on exit code 0; `file_exists` reads the file through `read_file`; `regex` matches the
/// file's text. No model is involved. `judge` criteria are the semantic stage, which is not built yet: they come
/// back `pending`, and the evaluation passes only when every criterion passed. The evidence of each result is
/// what decided it (the exit code and the output's tail, the matched text, the error), and the whole evaluation is a
/// `seed.evaluated` event.
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
        func tool(_ name: String, _ arguments: JSONValue) async throws -> JSONValue {
            var fields: [String: JSONValue] = ["name": .string(name), "arguments": arguments]
            if let agent { fields["agent"] = .string(agent) }
            return try await operations.call("tools.call", fields, as: caller)
        }
        let check = criterion.check
        switch criterion.kind {
        case "command":
            let result = try await tool("run_command", ["command": check["command"] ?? ""])
            let output = result["output"]?.stringValue ?? ""
            guard result["is_error"] != true else { return ("failed", "run_command refused it: \(output)") }
            let head = output.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
            let code = head.wholeMatch(of: /\[exit code (-?\d+)\]/).flatMap { Int($0.output.1) } ?? -1
            return (code == 0 ? "passed" : "failed", "\(head) \(output.suffix(1000))")
        case "file_exists":
            let result = try await tool("read_file", ["path": check["file_exists"] ?? "", "limit": 1])
            let output = result["output"]?.stringValue ?? ""
            return result["is_error"] == true ? ("failed", output) : ("passed", "read: \(output.prefix(200))")
        case "regex":
            let result = try await tool("read_file", ["path": check["file"] ?? ""])
            let text = result["output"]?.stringValue ?? ""
            guard result["is_error"] != true else { return ("failed", text) }
            let pattern = check["regex"]?.stringValue ?? ""
            guard let range = text.range(of: pattern, options: .regularExpression) else {
                return ("failed", "no match for \(pattern) in \(check["file"]?.stringValue ?? "")")
            }
            return ("passed", "matched: \(text[range].prefix(300))")
        default:
            return ("pending", "the semantic stage (a judge that must cite evidence) is not built yet")
        }
    }
}
