import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// kill -9 of a real gateway in the middle of a workflow run, then a restart: the run resumes at its first
/// unfinished step, no finished step runs again, and the ledger still verifies.
struct WorkflowRecoveryTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    static let workflow = #"""
        [[steps]]
        name = "first"
        command = "echo once >> side.txt"

        [[steps]]
        name = "think"
        needs = ["first"]
        prompt = "Say done."

        [[steps]]
        name = "last"
        needs = ["think"]
        command = "echo last >> side.txt"
        acceptance = [{ command = "grep -q once side.txt" }]
        """#

    @Test func aWorkflowRunSurvivesKill9AndNoFinishedStepRunsAgain() async throws {
        let server = ScriptedHTTPServer(responses: [TaskRecoveryTests.stalled, TaskRecoveryTests.answer])
        try await server.run { server in
            let home = try TemporaryDirectory(prefix: "osprey-workflow-crash")
            defer { home.remove() }
            try TaskRecoveryTests.config(server).write(
                to: home.url.appendingPathComponent("config.toml"),
                atomically: true,
                encoding: .utf8
            )
            let skill = home.url.appendingPathComponent("skills/crashy")
            try FileManager.default.createDirectory(at: skill, withIntermediateDirectories: true)
            try "---\nname: crashy\ndescription: Survives a crash.\n---\nRun it.\n".write(
                to: skill.appendingPathComponent("SKILL.md"),
                atomically: true,
                encoding: .utf8
            )
            try Self.workflow.write(
                to: skill.appendingPathComponent("workflow.toml"),
                atomically: true,
                encoding: .utf8
            )
            let args = ["--home", home.path]
            let side = home.url.appendingPathComponent("workspace/side.txt")
            func sideEffects() -> String { (try? String(contentsOf: side, encoding: .utf8)) ?? "" }

            // Given a workflow run whose prompt step waits for the model after its first step ran,
            var gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let listed = try await osprey.run(["workflows", "list"] + args)
            #expect(listed.stdout.contains("crashy  available  home"), "\(listed.stdout)\(listed.stderr)")
            let submitted = try await osprey.run(["workflows", "run", "crashy"] + args)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try await TaskRecoveryTests.wait("the prompt step's model call is in flight") {
                server.requests.count == 1 && sideEffects() == "once\n"
            }
            // when the gateway is killed and started again on the same home,
            try await Task.sleep(for: .milliseconds(200))
            gateway.kill()
            gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            var run = JSONValue.null
            try await TaskRecoveryTests.wait("the run ends") {
                run = try JSONValue.parse(try await osprey.run(["workflows", "show", id, "--json"] + args).stdout)
                return ["completed", "failed"].contains(run["task"]?["status"]?.stringValue ?? "")
            }
            // then the run completed on its second attempt, the first step did not run again,
            #expect(run["task"]?["status"] == "completed", "\(run)")
            #expect(run["task"]?["attempts"] == 2)
            #expect(sideEffects() == "once\nlast\n")
            let steps = run["steps"]?.arrayValue ?? []
            #expect(steps.map { $0["status"] } == ["done", "done", "done"], "\(steps)")
            #expect(steps[1]["output"] == "done")
            // and the CLI says the same, and the ledger verifies.
            let shown = try await osprey.run(["workflows", "show", id] + args)
            #expect(shown.stdout.contains("\(id)  crashy  completed"), "\(shown.stdout)")
            #expect(try await osprey.run(["audit", "verify"] + args).status == 0)
        }
    }
}
