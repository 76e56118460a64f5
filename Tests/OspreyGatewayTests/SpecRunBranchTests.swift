import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// Speculative branches of a spec run: alternatives side by side in copies of the workspace, the best applied.
struct SpecRunBranchTests {
    /// A model for branches: the coordinator gets a plan; each alternative writes hello.txt its own way (only the
    /// second names the osprey), then says so. It answers by what it is asked, since branches run side by side.
    final class BranchingModel: ModelProvider {
        func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
            let asked = request.messages.first { $0.role == .user }?.text ?? ""
            let message: Message
            if asked.contains("of a plan for a specification") {
                message = .assistant(SpecRunGatewayTests.inBounds)
            } else if asked.contains("coordinator of a spec-first run") {
                message = .assistant(SpecRunGatewayTests.plan)
            } else if request.messages.last?.role == .tool {
                message = .assistant("Wrote hello.txt.")
            } else if let match = asked.firstMatch(of: /alternative (\d) of 3/), let branch = Int(match.output.1) {
                let content = branch == 2 ? "hello osprey" : "hello from branch \(branch)"
                message = .toolCall("write_file", #"{"path":"hello.txt","content":"\#(content)"}"#)
            } else {
                message = .assistant(#"{"pass": true, "evidence": "Wrote hello.txt."}"#)
            }
            return ModelReply(
                message: message,
                usage: Usage(inputTokens: 10, outputTokens: 5),
                stopReason: message.toolCalls.isEmpty ? .endTurn : .toolUse
            )
        }
    }

    @Test(.timeLimit(.minutes(3))) func threeBranchesRunInCopiesAndOnlyTheOneThatPassesIsApplied() async throws {
        let gateway = try await TestGateway(provider: BranchingModel())
        let workspace = gateway.kernel.runtime.workspace.root
        try "kept".write(to: workspace.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        try await gateway.app().test(.router) { client in
            try await TestRuns.running(gateway.kernel.supervisor) {
                let stored = try await client.post("/api/seeds", #"{"document":\#(SpecRunGatewayTests.seed)}"#)
                let seedID = try #require(stored.json["id"]?.stringValue)
                let started = try await client.post(
                    "/api/seeds/\(seedID)/run",
                    #"{"branches":3,"max_generations":1}"#
                )
                let id = try #require(started.json["id"]?.stringValue, "\(started.json)")
                let run = try await WorkflowGatewayTests.finished(id, client: client)
                let report = try JSONValue.parse(run["task"]?["result"]?.stringValue ?? "")
                #expect(report["evaluation_passed"] == true, "\(report)")
                let evaluation = report["evaluations"]?.arrayValue?.first
                #expect(evaluation?["branch"] == 2)
                let branches = evaluation?["branches"]?.arrayValue ?? []
                #expect(branches.map { $0["evaluation_passed"] } == [false, true, false], "\(branches)")
                #expect(branches.map { $0["applied"] } == [false, true, false])
                // "said" was not judged: an earlier stage failed.
                #expect(branches.first?["failed"] == ["file", "said"])
                // The passing branch is the workspace now; what it did not touch is still there.
                #expect(
                    try String(contentsOf: workspace.appendingPathComponent("hello.txt"), encoding: .utf8)
                        == "hello osprey"
                )
                #expect(
                    try String(contentsOf: workspace.appendingPathComponent("notes.txt"), encoding: .utf8) == "kept"
                )
                // The others are kept, each in its own copy.
                let first = try #require(branches.first?["workspace"]?.stringValue)
                #expect(try String(contentsOfFile: first + "/hello.txt", encoding: .utf8) == "hello from branch 1")
                // Each branch's subtask ran in its copy; the workspace was checkpointed before the best was applied.
                let children = try await gateway.store.tasks.list(parent: TaskRecord.ID(id))
                let writers = children.filter { $0.title.hasSuffix("-write") }
                #expect(Set(writers.compactMap(\.workspace)).count == 3, "\(writers.map(\.title))")
                let checkpoints = try await gateway.store.ledger.events(limit: 2000).filter {
                    $0.type == .checkpointCreated
                        && $0.payload["label"]?.stringValue?.contains("before applying branch 2") == true
                }
                #expect(checkpoints.count == 1)
            }
        }
    }
}
