import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// kill -9 of a real gateway in the middle of a spec run's execute phase, then a restart: the run resumes at the
/// subtask it was in, the coordinator is not asked again, the finished subtask's side effect happened once, and the
/// evaluation passes.
struct SpecRunRecoveryTests {
    @Test(.timeLimit(.minutes(2))) func aSpecRunSurvivesKill9WithoutRepeatingAFinishedSubtask() async throws {
        let osprey = try OspreyExecutable.locate()
        let plan = #"""
            {"steps": [{"name": "first", "persona": "dev", "prompt": "Append once to side.txt.", "covers": []},
                       {"name": "second", "persona": "dev", "prompt": "Say done.", "needs": ["first"], "covers": ["side"]}]}
            """#
        let planned = ScriptedHTTPServer.Response.sse([
            JSONValue.object([
                "choices": [
                    ["index": 0, "delta": ["role": "assistant", "content": .string(plan)], "finish_reason": "stop"]
                ]
            ]).canonicalJSON, "[DONE]",
        ])
        let server = ScriptedHTTPServer(responses: [
            planned, TaskRecoveryTests.toolCall("echo once >> side.txt"), TaskRecoveryTests.answer,
            TaskRecoveryTests.stalled, TaskRecoveryTests.answer,
        ])
        try await server.run { server in
            let home = try TemporaryDirectory(prefix: "osprey-spec-crash")
            defer { home.remove() }
            try TaskRecoveryTests.config(server, extra: #"approval = "autonomous""#).write(
                to: home.url.appendingPathComponent("config.toml"),
                atomically: true,
                encoding: .utf8
            )
            let seed = home.url.appendingPathComponent("seed.json")
            try
                #"{"goal": "Append once to side.txt.", "acceptance": [{"id": "side", "criterion": "side.txt says once", "check": {"regex": "once", "file": "side.txt"}}]}"#
                .write(to: seed, atomically: true, encoding: .utf8)
            let args = ["--home", home.path]
            let side = home.url.appendingPathComponent("workspace/side.txt")
            func sideEffects() -> String { (try? String(contentsOf: side, encoding: .utf8)) ?? "" }

            // Given a spec run whose second subtask waits for the model after the first one wrote its side effect,
            var gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let started = try await osprey.run(["run", "--seed-file", seed.path, "--detach"] + args)
            #expect(started.status == 0, "\(started.stderr)")
            let task = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try await TaskRecoveryTests.wait("the second subtask's model call is in flight") {
                server.requests.count == 4 && sideEffects() == "once\n"
            }
            // when the gateway is killed and started again on the same home,
            try await Task.sleep(for: .milliseconds(200))
            gateway.kill()
            gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            var run = JSONValue.null
            try await TaskRecoveryTests.wait("the run ends") {
                run = try JSONValue.parse(try await osprey.run(["workflows", "show", task, "--json"] + args).stdout)
                return ["completed", "failed"].contains(run["task"]?["status"]?.stringValue ?? "")
            }
            // then the run passed on its second attempt: the plan and the first subtask were not repeated.
            #expect(run["task"]?["status"] == "completed", "\(run)")
            #expect(run["task"]?["attempts"] == 2)
            let report = try JSONValue.parse(run["task"]?["result"]?.stringValue ?? "")
            #expect(report["evaluation_passed"] == true, "\(report)")
            #expect(sideEffects() == "once\n")
            #expect(server.requests.count == 5)
            let steps = (run["steps"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            #expect(Set(steps) == ["g1-plan", "g1-checkpoint", "g1-first", "g1-second", "g1-evaluate"], "\(steps)")
            #expect(try await osprey.run(["audit", "verify"] + args).status == 0)
        }
    }
}
