import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// Personas: the built-in ones, config.toml's and the home's files; a run in a persona gets its instructions, its
/// narrowing of the agent's tools and, when read-only, the policy's refusal to write or run.
struct PersonaTests {
    @Test func aReviewerMayReadButItsWriteIsDeniedByThePolicy() async throws {
        var config = OspreyConfig()
        config.scriptedAgent(tools: ["read_file", "write_file", "run_command"], approval: "autonomous")
        var careful = OspreyConfig.PersonaSettings()
        careful.description = "Reads only notes."
        careful.instructions = "Read the notes and nothing else."
        careful.tools = ["read_file", "http_fetch"]
        config.personas["careful"] = careful
        let provider = ScriptedProvider(messages: [
            .toolCall("read_file", #"{"path":"notes.txt"}"#),
            .toolCall("write_file", #"{"path":"notes.txt","content":"changed"}"#, id: "call_2"),
            .toolCall("run_command", #"{"command":"rm notes.txt"}"#, id: "call_3"),
            .assistant("The notes are fine."),
            .assistant("Careful answer."),
        ])
        let gateway = try await TestGateway(config: config, provider: provider) { home in
            try FileManager.default.createDirectory(at: home.personasDirectory, withIntermediateDirectories: true)
            try "no front matter".write(
                to: home.personasDirectory.appendingPathComponent("broken.md"),
                atomically: true,
                encoding: .utf8
            )
        }
        let notes = gateway.kernel.runtime.workspace.root.appendingPathComponent("notes.txt")
        try "ospreys".write(to: notes, atomically: true, encoding: .utf8)
        try await gateway.app().test(.router) { client in
            // The catalog: four built in, one configured, a broken file reported with why.
            let listed = try await client.execute(uri: "/api/personas", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            let names = listed["personas"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names == ["careful", "dev", "ops", "research", "review"], "\(listed)")
            #expect(listed["failures"]?["broken.md"]?.stringValue?.contains("front matter") == true, "\(listed)")
            // A session in the review persona: it reads, but its write and its command are denied by the policy.
            let unknown = try await client.post("/api/sessions", #"{"persona":"ghost"}"#)
            #expect(unknown.status == .badRequest)
            let review = try await client.post("/api/sessions", #"{"persona":"review"}"#).json
            #expect(review["persona"] == "review")
            let id = try #require(review["id"]?.stringValue)
            let sent = try await client.post("/api/sessions/\(id)/messages", #"{"content":"review the notes"}"#)
            #expect(sent.status == .ok && sent.json["response"] == "The notes are fine.", "\(sent.json)")
            // A configured persona narrows the agent's tools (http_fetch is not the agent's: it stays out).
            let careful = try await client.post("/api/sessions", #"{"persona":"careful"}"#).json
            let carefulID = try #require(careful["id"]?.stringValue)
            _ = try await client.post("/api/sessions/\(carefulID)/messages", #"{"content":"read"}"#)
        }
        #expect(try String(contentsOf: notes, encoding: .utf8) == "ospreys")
        let decisions = try await gateway.store.ledger.events(filter: EventFilter(type: "policy.decision"))
        let verdicts = decisions.map {
            "\($0.payload["tool"]?.stringValue ?? "")=\($0.payload["verdict"]?.stringValue ?? ""):\($0.payload["rule"]?.stringValue ?? "")"
        }
        #expect(
            verdicts == ["read_file=allow:approval_mode", "write_file=deny:persona", "run_command=deny:persona"],
            "\(verdicts)"
        )
        let requests = provider.requests
        #expect(requests.first?.instructions?.contains("You act in the persona 'review'") == true)
        #expect(requests.last?.instructions?.contains("Read the notes and nothing else.") == true)
        #expect(requests.last?.tools.map(\.name) == ["read_file"], "\(requests.last?.tools.map(\.name) ?? [])")
    }

    @Test func anAdminWritesAndRemovesPersonasAndATaskRunsInOne() async throws {
        let provider = ScriptedProvider(messages: [.assistant("Triaged.")])
        let gateway = try await TestGateway(provider: provider)
        let (_, viewer) = try await gateway.store.tokens.create(name: "watcher", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.router) { client in
            func put(
                _ name: String,
                _ body: String,
                token: String = TestGateway.adminToken
            ) async throws -> TestResponse {
                try await client.execute(
                    uri: "/api/personas/\(name)",
                    method: .put,
                    headers: TestGateway.auth(token),
                    body: TestGateway.json(body)
                ) { $0 }
            }
            let body = #"{"description":"Sorts incoming issues.","instructions":"Label each issue.","temperature":0.1}"#
            #expect(try await put("triage", body, token: viewer).status == .forbidden)
            #expect(try await put("Bad Name", body).status == .badRequest)
            #expect(try await put("review", body).status == .conflict)  // a built-in one cannot be replaced
            #expect(try await put("triage", #"{"description":"x"}"#).status == .badRequest)  // no instructions
            // A model no configured provider serves, or a tool that does not exist, is refused when written (before:
            // 200, and the first run in the persona failed with "no provider named '..'")
            let badModel = try await put("triage", #"{"description":"x","instructions":"y","model":"../../x"}"#)
            #expect(badModel.status == .badRequest)
            #expect(badModel.json["error"]?["message"]?.stringValue?.contains("no configured provider") == true)
            #expect(
                try await put("triage", #"{"description":"x","instructions":"y","model":"plain"}"#).status
                    == .badRequest
            )
            let badTool = try await put("triage", #"{"description":"x","instructions":"y","tools":["nope"]}"#)
            #expect(badTool.status == .badRequest && badTool.json["error"]?["message"] == "No tool named 'nope'.")
            let written = try await put("triage", body)
            #expect(written.status == .ok && written.json["source"] == "file", "\(written.json)")
            let file = gateway.directory.url.appendingPathComponent("personas/triage.md")
            #expect(try String(contentsOf: file, encoding: .utf8).contains("description: Sorts incoming issues."))
            // A task in that persona.
            let task = try await client.post(
                "/api/tasks",
                #"{"title":"triage","instructions":"Triage the inbox.","persona":"triage"}"#
            )
            #expect(task.status == .created && task.json["persona"] == "triage", "\(task.json)")
            let id = try #require(task.json["id"]?.stringValue)
            try await TestRuns.running(gateway.kernel.supervisor) {
                try await TestRuns.waitUntil { try await gateway.store.tasks.get(TaskRecord.ID(id)).isFinished }
            }
            #expect(try await gateway.store.tasks.get(TaskRecord.ID(id)).result == "Triaged.")
            #expect(provider.requests.first?.instructions?.contains("Label each issue.") == true)
            #expect(provider.requests.first?.temperature == 0.1)
            #expect(
                try await client.post("/api/tasks", #"{"title":"t","instructions":"x","persona":"ghost"}"#).status
                    == .badRequest
            )
            // Removed: gone from the catalog; a built-in one cannot be removed.
            try await client.execute(uri: "/api/personas/triage", method: .delete, headers: TestGateway.auth()) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/api/personas/review", method: .delete, headers: TestGateway.auth()) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/api/personas/triage", method: .get, headers: TestGateway.auth()) {
                #expect($0.status == .notFound)
            }
        }
    }
}
