import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// Workflow skills run as tasks through the gateway: steps in dependency order, prompt steps as sub-tasks the
/// supervisor runs, commands and tool calls through the check point, acceptance checks and a judge that quotes its
/// evidence; a failed step blocks the steps that need it.
struct WorkflowGatewayTests {
    /// The `notes` workflow skill (Tests/Fixtures/skills/notes): a prompt, two commands and a tool call.
    static let notes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/skills/notes")

    static let broken = #"""
        [[steps]]
        name = "fails"
        command = "false"

        [[steps]]
        name = "after"
        needs = ["fails"]
        command = "echo never"

        [[steps]]
        name = "alone"
        command = "echo alone"
        acceptance = [{ regex = "alone" }]
        """#

    /// A workflow skill in the home's skills folder.
    static func install(_ name: String, _ toml: String, in home: Home) throws {
        let folder = home.skillsDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "---\nname: \(name)\ndescription: The \(name) workflow.\n---\nRun it.\n".write(
            to: folder.appendingPathComponent("SKILL.md"),
            atomically: true,
            encoding: .utf8
        )
        try toml.write(to: folder.appendingPathComponent(Workflow.fileName), atomically: true, encoding: .utf8)
    }

    /// Polls a workflow or spec run until its task has ended (two minutes at most: a spec run of two generations,
    /// 2.3 s alone, took more than 30 s once in a loaded full run).
    static func finished(_ id: String, client: some TestClientProtocol) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let run = try await client.execute(
                uri: "/api/workflows/runs/\(id)",
                method: .get,
                headers: TestGateway.auth()
            ) { $0.json }
            if ["completed", "failed", "cancelled"].contains(run["task"]?["status"]?.stringValue ?? "") { return run }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ProcessFailure(message: "workflow run \(id) did not end in 120 s")
    }

    @Test(.timeLimit(.minutes(3))) func aWorkflowRunsItsStepsChecksThemAndIsJudgedOnItsEvidence() async throws {
        let provider = ScriptedProvider(messages: [
            .toolCall("write_file", #"{"path":"notes.md","content":"the osprey dives"}"#),
            .assistant("Wrote notes.md."),
            .assistant(#"{"pass": true, "evidence": "3 notes.md"}"#),
        ])
        let gateway = try await TestGateway(provider: provider) { home in
            try FileManager.default.createDirectory(at: home.skillsDirectory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Self.notes, to: home.skillsDirectory.appendingPathComponent("notes"))
        }
        let workspace = gateway.kernel.runtime.workspace.root
        try await gateway.app().test(.router) { client in
            try await TestRuns.running(gateway.kernel.supervisor) {
                let listed = try await client.execute(uri: "/api/workflows", method: .get, headers: TestGateway.auth())
                {
                    $0.json
                }
                #expect(listed["workflows"]?.arrayValue?.first?["inputs"] == ["topic"], "\(listed)")
                let submitted = try await client.post(
                    "/api/workflows/run",
                    #"{"name":"notes","inputs":{"topic":"ospreys"}}"#
                )
                #expect(submitted.status == .created, "\(submitted.json)")
                let id = try #require(submitted.json["id"]?.stringValue)
                let run = try await Self.finished(id, client: client)
                #expect(run["task"]?["status"] == "completed", "\(run)")
                let steps = run["steps"]?.arrayValue ?? []
                #expect(steps.map { $0["name"] } == ["draft", "side", "count", "stamp"])
                #expect(steps.allSatisfy { $0["status"] == "done" }, "\(steps)")
                #expect(steps[1]["output"]?.stringValue?.hasPrefix("ospreys") == true)
                let stamp = try String(contentsOf: workspace.appendingPathComponent("stamp.txt"), encoding: .utf8)
                #expect(stamp.hasPrefix("3 notes.md"), "\(stamp)")
                // The prompt step and the judge ran as sub-tasks of the run.
                let children = try await gateway.store.tasks.list(parent: TaskRecord.ID(id))
                #expect(Set(children.map(\.title)) == ["notes: draft", "judge: The notes have three words."])
                // The prompt step acts in its persona.
                let draft = try #require(children.first { $0.title == "notes: draft" })
                #expect(
                    draft.instructions
                        == "Act as a terse naturalist for this step.\n\nWrite three words about ospreys to notes.md."
                )
                #expect(children.allSatisfy { $0.status == .completed })
                let completed = try await gateway.store.ledger.events(limit: 1000).filter {
                    $0.type == .workflowStepCompleted && $0.task?.rawValue == id
                }
                #expect(completed.count == 4)
                // The command and tool steps went through the check point as the run.
                let decisions = try await gateway.store.ledger.events(limit: 1000).filter {
                    $0.type == .policyDecision && $0.payload["tool"] == "run_command"
                }
                #expect(decisions.count >= 2)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func aFailedStepBlocksWhatNeedsItAndTheRunFailsSayingSo() async throws {
        let gateway = try await TestGateway { home in
            try Self.install("broken", Self.broken, in: home)
            try FileManager.default.copyItem(at: Self.notes, to: home.skillsDirectory.appendingPathComponent("notes"))
        }
        try await gateway.app().test(.router) { client in
            try await TestRuns.running(gateway.kernel.supervisor) {
                let submitted = try await client.post("/api/workflows/run", #"{"name":"broken"}"#)
                let id = try #require(submitted.json["id"]?.stringValue)
                let run = try await Self.finished(id, client: client)
                #expect(run["task"]?["status"] == "failed")
                let states = Dictionary(
                    uniqueKeysWithValues: (run["steps"]?.arrayValue ?? []).map {
                        ($0["name"]?.stringValue ?? "", $0["status"]?.stringValue ?? "")
                    }
                )
                #expect(states == ["fails": "failed", "after": "blocked", "alone": "done"])
                let error = run["task"]?["error"]?.stringValue ?? ""
                #expect(error.contains("step 'fails' failed: `false` ended with 1"), "\(error)")
                #expect(error.contains("step 'after' blocked: it needs step 'fails'"), "\(error)")
                // Bad requests are refused before anything runs.
                let missing = try await client.post("/api/workflows/run", #"{"name":"notes"}"#)
                #expect(
                    missing.status == .badRequest
                        && missing.json["error"]?["message"]?.stringValue?.contains("topic") == true
                )
                let unknown = try await client.post("/api/workflows/run", #"{"name":"ghost"}"#)
                #expect(unknown.status == .notFound && unknown.errorCode == "not_found")
                let extra = try await client.post(
                    "/api/workflows/run",
                    #"{"name":"notes","inputs":{"topic":"x","colour":"red"}}"#
                )
                #expect(extra.status == .badRequest)
                let notARun = try await client.execute(
                    uri: "/api/workflows/runs/tsk_nothing",
                    method: .get,
                    headers: TestGateway.auth()
                ) { $0.status }
                #expect(notARun == .notFound)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func aScheduleFiresAWorkflowAndAWorkspaceWorkflowRunsTainted() async throws {
        let gateway = try await TestGateway { home in
            try Self.install("broken", Self.broken, in: home)
        }
        // A workflow an agent could have written (the workspace's skills) is untrusted: its runs start tainted.
        let workspaceSkills = gateway.kernel.runtime.workspace.root.appendingPathComponent("skills")
        try Self.install(
            "local",
            "[[steps]]\nname = \"hello\"\ncommand = \"echo hi\"",
            in: Home(root: workspaceSkills.deletingLastPathComponent())
        )
        try await gateway.app().test(.router) { client in
            let schedule = try await client.post(
                "/api/schedules",
                #"{"title":"nightly","instructions":"{}","workflow":"broken","spec":"@daily"}"#
            )
            #expect(schedule.status == .created, "\(schedule.json)")
            #expect(schedule.json["workflow"] == "broken")
            let scheduleID = try #require(schedule.json["id"]?.stringValue)
            let fired = try await client.post("/api/schedules/\(scheduleID)/run")
            #expect(fired.json["task"]?["workflow"] == "broken")
            let refused = try await client.post(
                "/api/schedules",
                #"{"title":"bad","instructions":"not json","workflow":"broken","spec":"@daily"}"#
            )
            #expect(refused.status == .badRequest)
            let local = try await client.post("/api/workflows/run", #"{"name":"local"}"#)
            #expect(local.json["tainted"] == true, "\(local.json)")
        }
    }
}
