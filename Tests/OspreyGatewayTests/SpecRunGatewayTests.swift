import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// Spec runs through the gateway with a scripted model: a coordinator's plan checked against the seed, the plan
/// executed as sub-tasks in their personas, the evaluation's stages with their evidence, and the next generation
/// written when the first falls short.
struct SpecRunGatewayTests {
    static let seed = #"""
        {"goal": "Write hello.txt greeting the osprey.",
         "constraints": ["Only hello.txt changes."],
         "acceptance": [
           {"id": "file", "criterion": "hello.txt names the osprey", "check": {"regex": "osprey", "file": "hello.txt"}},
           {"id": "said", "criterion": "the subtask reports what it wrote", "check": {"judge": "It says it wrote hello.txt."}}
         ]}
        """#

    static let plan = #"""
        Here is the plan: {"steps": [{"name": "write", "persona": "dev", "prompt": "Write hello.txt.",
          "covers": ["file", "said"]}]}
        """#

    /// A judge's verdict that the plan stays within the seed's constraints, quoting it.
    static let inBounds = #"{"pass": true, "evidence": "Write hello.txt."}"#

    @Test(.timeLimit(.minutes(3))) func aFailedGenerationEvolvesTheSeedAndTheNextOnePasses() async throws {
        let evolved = #"""
            {"seed": {"goal": "Write hello.txt whose text contains the word osprey.",
              "constraints": ["Only hello.txt changes."],
              "acceptance": [
                {"id": "file", "criterion": "hello.txt names the osprey", "check": {"regex": "osprey", "file": "hello.txt"}},
                {"id": "said", "criterion": "the subtask reports what it wrote", "check": {"judge": "It says it wrote hello.txt."}}
              ]},
             "changes": "The goal now says the text must contain the word osprey: generation 1 wrote only hello."}
            """#
        let provider = ScriptedProvider(messages: [
            // Generation 1: a plan a judge finds outside the constraints, asked again; then a subtask that misses the
            // criterion (its own check fails).
            .assistant(Self.plan),
            .assistant(#"{"pass": false, "evidence": "Write hello.txt."}"#),
            .assistant(Self.plan),
            .assistant(Self.inBounds),
            .toolCall("write_file", #"{"path":"hello.txt","content":"hello"}"#),
            .assistant("Wrote hello.txt."),
            // The next generation, written from the failure.
            .assistant(evolved),
            // Generation 2: the same plan, a subtask that meets it, a judge that quotes its evidence.
            .assistant(Self.plan),
            .assistant(Self.inBounds),
            .toolCall("write_file", #"{"path":"hello.txt","content":"hello osprey"}"#),
            .assistant("Wrote hello.txt with the osprey in it."),
            .assistant(#"{"pass": true, "evidence": "Wrote hello.txt with the osprey"}"#),
        ])
        let gateway = try await TestGateway(provider: provider)
        let workspace = gateway.kernel.runtime.workspace.root
        try await gateway.app().test(.router) { client in
            try await TestRuns.running(gateway.kernel.supervisor) {
                let stored = try await client.post("/api/seeds", #"{"document":\#(Self.seed)}"#)
                let seed = try #require(stored.json["id"]?.stringValue)
                let refused = try await client.post("/api/seeds/\(seed)/run", #"{"max_generations":11}"#)
                #expect(refused.status == .badRequest, "\(refused.json)")
                let started = try await client.post("/api/seeds/\(seed)/run", #"{"max_generations":3}"#)
                #expect(started.status == .created, "\(started.json)")
                let id = try #require(started.json["id"]?.stringValue)
                let run = try await WorkflowGatewayTests.finished(id, client: client)
                #expect(run["task"]?["status"] == "completed", "\(run)")
                let report = try JSONValue.parse(run["task"]?["result"]?.stringValue ?? "")
                #expect(report["evaluation_passed"] == true, "\(report)")
                #expect(report["stopped"] == "passed")
                #expect(report["phase_reached"] == "evaluate")
                #expect(report["generations"] == 2)
                #expect(report["first_seed"]?.stringValue == seed)
                #expect((report["drift"]?.doubleValue ?? 0) > 0)
                // Generation 1 failed its mechanical stage; the judge was not asked.
                let first = report["evaluations"]?.arrayValue?.first
                #expect(first?["evaluation_passed"] == false)
                #expect(first?["stage_reached"] == "mechanical")
                #expect(first?["results"]?.arrayValue?.first?["status"] == "failed")
                #expect(first?["results"]?.arrayValue?.dropFirst(1).first?["status"] == "pending")
                // Generation 2 passed both stages, the judge on its quoted evidence.
                let second = report["evaluations"]?.arrayValue?.dropFirst(1).first
                #expect(second?["stage_reached"] == "semantic")
                #expect(second?["results"]?.arrayValue?.dropFirst(1).first?["status"] == "passed", "\(second ?? .null)")
                #expect(
                    try String(contentsOf: workspace.appendingPathComponent("hello.txt"), encoding: .utf8)
                        == "hello osprey"
                )
                // The next generation is stored in the seed's lineage with what changed and why.
                let lineage = try await gateway.store.seeds.lineage(of: SeedRecord.ID(seed))
                #expect(lineage.map(\.generation) == [1, 2])
                #expect(lineage.last?.changes?.contains("generation 1 wrote only hello") == true)
                #expect(report["seed"]?.stringValue == lineage.last?.id.rawValue)
                // Every phase is a step of the run; the subtask's own check failed it in generation 1.
                let steps = Dictionary(
                    uniqueKeysWithValues: (run["steps"]?.arrayValue ?? []).compactMap { step in
                        step["name"]?.stringValue.map { ($0, step["status"]?.stringValue ?? "") }
                    }
                )
                #expect(
                    steps == [
                        "g1-plan": "done", "g1-plan-again": "done", "g1-checkpoint": "done", "g1-write": "failed",
                        "g1-evaluate": "done",
                        "g1-rollback": "done", "g1-evolve": "done", "g2-plan": "done", "g2-checkpoint": "done",
                        "g2-write": "done", "g2-evaluate": "done",
                    ],
                    "\(steps)"
                )
                // The coordinator explored read-only; the subtasks ran in their persona.
                let children = try await gateway.store.tasks.list(parent: TaskRecord.ID(id))
                #expect(children.filter { $0.title == "spec: g1-plan" }.map(\.persona) == ["research"])
                let again = children.first { $0.title == "spec: g1-plan-again" }
                #expect(again?.instructions.contains("outside the constraints or non-goals") == true)
                #expect(children.filter { $0.title.hasSuffix(": g2-write") }.map(\.persona) == ["dev"])
                let evaluated = try await gateway.store.ledger.events(limit: 2000).filter {
                    $0.type == .seedEvaluated && $0.task?.rawValue == id
                }
                #expect(evaluated.map { $0.payload["evaluation_passed"] } == [false, true])
                // The failed generation was rolled back to the checkpoint taken before it executed.
                let restored = try await gateway.store.ledger.events(limit: 2000).filter {
                    $0.type == .checkpointRestored && $0.task?.rawValue == id
                }
                #expect(restored.count == 1)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func aCriticalCriterionNeedsEveryJudgeAndAJudgeWithoutEvidenceIsRejected()
        async throws
    {
        let seed = #"""
            {"goal": "Report the osprey's diet.",
             "acceptance": [{"id": "diet", "criterion": "the report names fish", "critical": true,
                             "check": {"judge": "The report says ospreys eat fish."}}]}
            """#
        let plan = #"{"steps": [{"name": "report", "persona": "research", "prompt": "Report.", "covers": ["diet"]}]}"#
        let provider = ScriptedProvider(messages: [
            .assistant(#"{"steps": [{"name": "report", "persona": "nobody", "prompt": "Report.", "covers": []}]}"#),
            .assistant(plan),
            .assistant("Ospreys eat fish almost exclusively."),
            .assistant(#"{"pass": true, "evidence": "Ospreys eat fish"}"#),
            .assistant(#"{"pass": true, "evidence": "eat fish almost exclusively"}"#),
            // The third judge passes it without a quote from the output.
            .assistant(#"{"pass": true, "evidence": "ospreys love fish and chips"}"#),
        ])
        let gateway = try await TestGateway(provider: provider)
        try await gateway.app().test(.router) { client in
            try await TestRuns.running(gateway.kernel.supervisor) {
                let stored = try await client.post("/api/seeds", #"{"document":\#(seed)}"#)
                let seedID = try #require(stored.json["id"]?.stringValue)
                let started = try await client.post("/api/seeds/\(seedID)/run", #"{"max_generations":1}"#)
                let id = try #require(started.json["id"]?.stringValue)
                let run = try await WorkflowGatewayTests.finished(id, client: client)
                let report = try JSONValue.parse(run["task"]?["result"]?.stringValue ?? "")
                #expect(report["evaluation_passed"] == false, "\(report)")
                #expect(report["stopped"] == "max_generations")
                let evaluation = report["evaluations"]?.arrayValue?.first
                #expect(evaluation?["stage_reached"] == "consensus")
                let result = evaluation?["results"]?.arrayValue?.first
                #expect(result?["status"] == "failed")
                #expect(result?["judges"] == 3)
                #expect(
                    result?["evidence"]?.stringValue?.contains("without quoting evidence found in the output") == true,
                    "\(result ?? .null)"
                )
                // The first plan named an unknown persona and covered nothing: it was refused and asked again.
                let steps = (run["steps"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
                #expect(steps.contains("g1-plan") && steps.contains("g1-plan-again"), "\(steps)")
                let again = try await gateway.store.tasks.list(parent: TaskRecord.ID(id)).first {
                    $0.title == "spec: g1-plan-again"
                }
                #expect(again?.instructions.contains("'nobody' is not a persona") == true)
            }
        }
    }

    /// Waits for a pending approval of a gated run (other than the one `decided`) and returns it.
    static func pendingGate(
        _ client: some TestClientProtocol,
        after decided: JSONValue? = nil
    ) async throws
        -> JSONValue
    {
        var found: JSONValue?
        try await TestRuns.waitUntil {
            let listed = try await client.execute(
                uri: "/api/approvals?status=pending",
                method: .get,
                headers: TestGateway.auth()
            ) { $0.json }
            found = listed["approvals"]?.arrayValue?.first { $0["id"] != decided?["id"] }
            return found != nil
        }
        return try #require(found)
    }

    @Test(.timeLimit(.minutes(3))) func aSupervisedRunWaitsForAHumanBeforeItExecutesAndStopsWhenDenied()
        async throws
    {
        let seed =
            #"{"goal": "Write a.txt.", "acceptance": [{"id": "a", "criterion": "a.txt exists", "check": {"file_exists": "a.txt"}}]}"#
        let plan = #"{"steps": [{"name": "write", "persona": "dev", "prompt": "Write a.txt.", "covers": ["a"]}]}"#
        let provider = ScriptedProvider(messages: [
            .assistant(plan),
            .toolCall("write_file", #"{"path":"a.txt","content":"a"}"#),
            .assistant("Wrote a.txt."),
            // The second run: its plan, then a human says no.
            .assistant(plan),
        ])
        let gateway = try await TestGateway(provider: provider)
        let workspace = gateway.kernel.runtime.workspace.root
        try await gateway.app().test(.router) { client in
            try await TestRuns.running(gateway.kernel.supervisor) {
                let stored = try await client.post("/api/seeds", #"{"document":\#(seed)}"#)
                let seedID = try #require(stored.json["id"]?.stringValue)
                let refused = try await client.post("/api/seeds/\(seedID)/run", #"{"mode":"reckless"}"#)
                #expect(refused.status == .badRequest)
                let started = try await client.post("/api/seeds/\(seedID)/run", #"{"mode":"supervised"}"#)
                let id = try #require(started.json["id"]?.stringValue)
                // The seed and the plan wait for a human; nothing has been written yet.
                let gate = try await Self.pendingGate(client)
                #expect(gate["tool"] == "spec_gate", "\(gate)")
                #expect(gate["arguments"]?.stringValue?.contains(#""name":"write""#) == true, "\(gate)")
                #expect(!FileManager.default.fileExists(atPath: workspace.appendingPathComponent("a.txt").path))
                let approval = try #require(gate["id"]?.stringValue)
                let approved = try await client.post("/api/approvals/\(approval)/approve", "{}")
                #expect(approved.status == .ok, "\(approved.json)")
                let run = try await WorkflowGatewayTests.finished(id, client: client)
                let report = try JSONValue.parse(run["task"]?["result"]?.stringValue ?? "")
                #expect(report["evaluation_passed"] == true, "\(report)")
                #expect(
                    run["steps"]?.arrayValue?.contains { $0["name"] == "g1-gate" && $0["status"] == "done" } == true
                )
                // A denied gate stops the run before anything executes.
                let second = try await client.post("/api/seeds/\(seedID)/run", #"{"mode":"supervised"}"#)
                let secondID = try #require(second.json["id"]?.stringValue)
                let next = try await Self.pendingGate(client)
                _ = try await client.post("/api/approvals/\(next["id"]?.stringValue ?? "")/reject", "{}")
                let stopped = try await WorkflowGatewayTests.finished(secondID, client: client)
                let secondReport = try JSONValue.parse(stopped["task"]?["result"]?.stringValue ?? "")
                #expect(secondReport["evaluation_passed"] == false)
                #expect(
                    secondReport["stopped"]?.stringValue?.hasPrefix("rejected: denied by") == true,
                    "\(secondReport)"
                )
                #expect(secondReport["generations"] == 0)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func anInteractiveRunAsksBeforeEverySubtaskAndARefusedOneFails() async throws {
        let seed =
            #"{"goal": "Write a.txt.", "acceptance": [{"id": "a", "criterion": "a.txt exists", "check": {"file_exists": "a.txt"}}]}"#
        let provider = ScriptedProvider(messages: [
            .assistant(#"{"steps": [{"name": "write", "persona": "dev", "prompt": "Write a.txt.", "covers": ["a"]}]}"#)
        ])
        let gateway = try await TestGateway(provider: provider)
        try await gateway.app().test(.router) { client in
            try await TestRuns.running(gateway.kernel.supervisor) {
                let stored = try await client.post("/api/seeds", #"{"document":\#(seed)}"#)
                let seedID = try #require(stored.json["id"]?.stringValue)
                let started = try await client.post(
                    "/api/seeds/\(seedID)/run",
                    #"{"mode":"interactive","max_generations":1}"#
                )
                let id = try #require(started.json["id"]?.stringValue)
                // The generation's gate, approved; then the subtask's own gate, refused.
                let plan = try await Self.pendingGate(client)
                _ = try await client.post("/api/approvals/\(plan["id"]?.stringValue ?? "")/approve", "{}")
                let subtask = try await Self.pendingGate(client, after: plan)
                #expect(subtask["reason"]?.stringValue?.contains("g1-write") == true, "\(subtask)")
                _ = try await client.post("/api/approvals/\(subtask["id"]?.stringValue ?? "")/reject", "{}")
                let run = try await WorkflowGatewayTests.finished(id, client: client)
                let report = try JSONValue.parse(run["task"]?["result"]?.stringValue ?? "")
                #expect(report["evaluation_passed"] == false, "\(report)")
                let write = run["steps"]?.arrayValue?.first { $0["name"] == "g1-write" }
                #expect(write?["status"] == "failed")
                #expect(
                    write?["error"]?.stringValue?.contains("refused at its gate: denied by") == true,
                    "\(write ?? .null)"
                )
                // The refused subtask never ran: the model was asked only for the plan.
                #expect(provider.requests.count == 1)
            }
        }
    }
}
