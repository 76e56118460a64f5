import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// The A2A door, driven by the official `a2a-sdk` Python client, and the `call_agent` tool, delegating to an
/// `a2a-sdk` server; both on loopback.
struct A2ATests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/a2a")

    static func rpc(_ method: String, _ params: String, id: String = "1") -> String {
        #"{"jsonrpc":"2.0","id":"\#(id)","method":"\#(method)","params":\#(params)}"#
    }

    static func ask(_ text: String, extra: String = "") -> String {
        #"{"message":{"kind":"message","role":"user","messageId":"m1","parts":[{"kind":"text","text":"\#(text)"}]\#(extra)}}"#
    }

    @Test(.timeLimit(.minutes(2))) func theOfficialA2AClientTalksToAnAgentThroughTasks() async throws {
        let provider = ScriptedProvider(messages: [
            .assistant("A fish-eating raptor."),
            .assistant("Near water, on every continent but Antarctica."),
            .assistant("Polled answer."),
        ])
        let gateway = try await TestGateway(provider: provider)
        try await TestRuns.running(gateway.kernel.supervisor) {
            try await gateway.app().test(.live) { client in
                let port = try #require(client.port)
                let result = try await runPython([
                    Self.fixtures.appendingPathComponent("client.py").path, "http://127.0.0.1:\(port)",
                    TestGateway.adminToken,
                ])
                #expect(result.status == 0, "\(result.stderr)")
                let seen = try JSONValue.parse(result.stdout)
                #expect(seen["card"]?["name"] == "Osprey" && seen["card"]?["skills"] == ["default"], "\(seen)")
                #expect(seen["card"]?["url"] == .string("http://127.0.0.1:\(port)/a2a"))
                #expect(seen["send"]?["state"] == "completed" && seen["send"]?["answer"] == "A fish-eating raptor.")
                // The stream tells the task's story from the ledger: submitted, working, the answer, the end.
                let kinds = seen["stream"]?["kinds"]?.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(kinds.first == "task" && kinds.contains("status-update"), "\(kinds)")
                #expect(kinds.suffix(2) == ["artifact-update", "status-update"], "\(kinds)")
                #expect(seen["stream"]?["state"] == "completed")
                #expect(seen["stream"]?["answer"] == "Near water, on every continent but Antarctica.")
                #expect(seen["stream"]?["context"] == seen["send"]?["context"])
                #expect(seen["poll"]?["first"] == "submitted" || seen["poll"]?["first"] == "working", "\(seen)")
                #expect(seen["poll"]?["state"] == "completed" && seen["poll"]?["answer"] == "Polled answer.")
                #expect(seen["poll"]?["history"] == ["agent"])  // historyLength 1: the answer only
                #expect(seen["resubscribe"] == ["completed"])
                #expect(seen["cancel_finished"] == .int(-32002) && seen["get_unknown"] == .int(-32001))
            }
        }
        // The second message of the conversation ran with the first exchange before it.
        let prompts = provider.requests.map { $0.messages.map(\.text).joined(separator: "\n") }
        #expect(prompts.count == 3)
        #expect(prompts[1].contains("user: What is an osprey?\nagent: A fish-eating raptor."), "\(prompts[1])")
        #expect(!prompts[2].contains("The conversation so far"))
        // Another agent's words start an untrusted task, recorded as a task of the one supervisor.
        let tasks = try await gateway.store.tasks.list()
        #expect(tasks.count == 3 && tasks.allSatisfy { $0.tainted && $0.status == .completed })
        #expect(Set(tasks.compactMap(\.context)).count == 2)
        let created = try await gateway.store.ledger.events(filter: EventFilter(type: "task.created"))
        #expect(created.allSatisfy { $0.actor.rawValue == "user:home/a2a" }, "\(created.map(\.actor))")
    }

    @Test func badRequestsGetTheErrorsTheSpecificationNames() async throws {
        var config = OspreyConfig()
        config.a2a.trustInbound = true
        let gateway = try await TestGateway(config: config)
        let (_, viewer) = try await gateway.store.tokens.create(name: "watcher", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.router) { client in
            func code(
                _ body: String,
                token: String = TestGateway.adminToken
            ) async throws -> (Int?, HTTPResponse.Status) {
                let response = try await client.post("/a2a", body, token: token)
                return (response.json["error"]?["code"]?.intValue, response.status)
            }
            #expect(try await code("{not json").0 == -32700)
            #expect(try await code("[1,2]").0 == -32600)
            #expect(try await code(#"{"jsonrpc":"2.0","method":"message/send","params":{}}"#).0 == -32600)  // no id
            #expect(try await code(Self.rpc("tasks/list", "{}")).0 == -32601)
            #expect(try await code(Self.rpc("tasks/get", "[]")).0 == -32602)
            #expect(try await code(Self.rpc("tasks/get", "{}")).0 == -32602)
            #expect(try await code(Self.rpc("tasks/pushNotificationConfig/set", "{}")).0 == -32003)
            let file =
                #"{"message":{"role":"user","messageId":"m","parts":[{"kind":"file","file":{"uri":"file:///etc/passwd"}}]}}"#
            #expect(try await code(Self.rpc("message/send", file)).0 == -32005)
            let ghost = Self.ask("hi", extra: #","metadata":{"agent":"ghost"}"#)
            #expect(try await code(Self.rpc("message/send", ghost)).0 == -32602)
            #expect(try await code(Self.rpc("message/send", Self.ask(""))).0 == -32602)
            // A viewer may read the card and tasks, not start one: 403, nothing submitted.
            let (refused, status) = try await code(Self.rpc("message/send", Self.ask("hi")), token: viewer)
            #expect(refused == -32600 && status == .forbidden)
            #expect(try await gateway.store.tasks.list().isEmpty)
            try await client.execute(uri: "/.well-known/agent-card.json", method: .get) {
                #expect($0.status == .unauthorized)
            }
            // A non-blocking send answers at once with the submitted task; with trust_inbound it is not tainted.
            let sent = try await client.post(
                "/a2a",
                Self.rpc(
                    "message/send",
                    String(Self.ask("later").dropLast()) + #","configuration":{"blocking":false}}"#
                )
            )
            let task = try #require(sent.json["result"])
            #expect(task["kind"] == "task" && task["status"]?["state"] == "submitted", "\(sent.json)")
            let id = try #require(task["id"]?.stringValue)
            #expect(try await gateway.store.tasks.get(TaskRecord.ID(id)).tainted == false)
            // A message to a task that is still queued is refused (tasks take no input while they run), then it is
            // cancelled, and a message to it now is refused as a finished task's.
            let more = Self.ask("more", extra: #","taskId":"\#(id)""#)
            #expect(try await code(Self.rpc("message/send", more)).0 == -32004)
            let cancelled = try await client.post("/a2a", Self.rpc("tasks/cancel", #"{"id":"\#(id)"}"#))
            #expect(cancelled.json["result"]?["status"]?["state"] == "canceled", "\(cancelled.json)")
            #expect(try await code(Self.rpc("message/send", more)).0 == -32602)
        }
        var open = OspreyConfig()
        open.a2a.publicCard = true
        let public_ = try await TestGateway(config: open)
        try await public_.app().test(.router) { client in
            try await client.execute(uri: "/.well-known/agent-card.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.json["securitySchemes"]?["bearer"]?["scheme"] == "bearer")
                #expect(response.json["protocolVersion"] == "0.3.0")
            }
            // The card is public; the tasks are not.
            try await client.execute(uri: "/a2a", method: .post, body: ByteBuffer(string: Self.rpc("tasks/get", "{}")))
            {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func callAgentDelegatesToAnA2AServerAndItsAnswerIsUntrusted() async throws {
        let port = freeLoopbackPort()
        let directory = try TemporaryDirectory()
        let log = directory.url.appendingPathComponent("methods.log").path
        let server = try await PythonServer(
            [Self.fixtures.appendingPathComponent("server.py").path, String(port), "remote-token", log],
            port: port
        )
        defer { server.stop() }
        setenv("OSPREY_TEST_A2A_TOKEN", "remote-token", 1)
        var config = OspreyConfig()
        var echo = OspreyConfig.A2AAgent(name: "echo", url: "http://127.0.0.1:\(port)/")
        echo.description = "Repeats what it is told."
        echo.token = "${env:OSPREY_TEST_A2A_TOKEN}"
        echo.privateAddresses = ["127.0.0.1"]
        echo.timeoutSeconds = 20
        var guarded = echo
        guarded.name = "guarded"
        guarded.privateAddresses = []
        config.a2aAgents = [echo, guarded]
        config.scriptedAgent(tools: ["call_agent"], approval: "autonomous")
        // One session per call: a run that has read an untrusted answer needs a human for its next network call.
        let provider = ScriptedProvider(messages: [
            .toolCall("call_agent", #"{"agent":"guarded","message":"hello"}"#, id: "call_1"), .assistant("done"),
            .toolCall("call_agent", #"{"agent":"echo","message":"hello remote"}"#, id: "call_2"), .assistant("done"),
            .toolCall("call_agent", #"{"agent":"nobody","message":"hi"}"#, id: "call_3"), .assistant("done"),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        try await gateway.app().test(.router) { client in
            for _ in 0..<3 {
                let session = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
                let response = try await client.post("/api/sessions/\(session.id)/messages", #"{"content":"go"}"#)
                #expect(response.status == .ok, "\(response.json)")
            }
        }
        let results = try await gateway.store.ledger.events(limit: 500)
            .filter { $0.type == .toolCallCompleted || $0.type == .toolCallFailed }
        let outputs = results.map { $0.payload["output"]?.stringValue ?? "" }
        // The SSRF guard refuses loopback to an entry without the allowance;
        #expect(outputs.first?.contains("refused to connect") == true, "\(outputs)")
        // the allowed one answers through a2a-sdk, with the bearer token (the server refuses any other), as untrusted
        // data;
        let answered = try #require(results.first { $0.payload["call_id"] == "call_2" })
        #expect(answered.type == .toolCallCompleted)
        let text = answered.payload["output"]?.stringValue ?? ""
        // (fenced as untrusted data for the model)
        #expect(text.hasPrefix(#"<untrusted-data source="call_agent">"#), "\(text)")
        #expect(text.contains("[remote agent echo, state completed, task "), "\(text)")
        #expect(text.contains("Remote agent heard: hello remote."))
        #expect(answered.payload["untrusted"] == true)
        // and an agent that is not listed is refused by the policy before anything is sent.
        let decisions = try await gateway.store.ledger.events(filter: EventFilter(type: "policy.decision"))
        #expect(decisions.contains { $0.payload["rule"] == "a2a_agents" && $0.payload["verdict"] == "deny" })
        let methods = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(methods == ["message/send"], "\(methods)")
    }
}
