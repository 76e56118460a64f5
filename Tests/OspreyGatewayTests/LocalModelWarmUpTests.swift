import Foundation
import Logging
import OspreyAgent
import OspreyCore
import OspreyProviders
import OspreyStore
import OspreyTesting
import ServiceLifecycle
import Testing

@testable import OspreyGateway

/// The local model server's prompt prefix kept evaluated: checked against a server process that speaks OpenAI's
/// format and records each request (in place of llama.cpp's, whose timing is measured by `osprey-bench local-model`).
@Suite(.serialized)
struct LocalModelWarmUpTests {
    /// Answers `GET /v1/models`, and each chat request with a `read_file` call while the model is shown tools and
    /// the last message is the user's asking to read, else with words (after a tool, leaving a file in the
    /// workspace named in `workspace` beside it); appends every chat request to `requests.jsonl` beside it.
    static let server = #"""
        import json, os, sys
        from http.server import BaseHTTPRequestHandler, HTTPServer

        RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requests.jsonl")

        class Handler(BaseHTTPRequestHandler):
            def answer(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.answer({"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with open(RECORD, "a") as record:
                    record.write(json.dumps(request) + "\n")
                shown = request.get("tools") and request.get("tool_choice") != "none"
                if shown and request["messages"][-1]["role"] == "user" and "Read" in request["messages"][-1]["content"]:
                    message = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                               "function": {"name": "read_file", "arguments": json.dumps({"path": "notes.txt"})}}]}
                else:
                    message = {"role": "assistant", "content": "Done."}
                    if request.get("tool_choice") == "none":
                        # A run that leaves a new file in the workspace, which the next run's instructions list.
                        with open(os.path.join(os.path.dirname(RECORD), "workspace")) as workspace:
                            open(os.path.join(workspace.read(), "made-by-the-run.txt"), "w").close()
                self.answer({"id": "c", "object": "chat.completion", "created": 0, "model": "fake",
                             "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}})

            def log_message(self, *args):
                pass

        port = int(sys.argv[sys.argv.index("--port") + 1])
        HTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#

    /// A home whose local model is the recording server, and config for it with `read_file` as the default agent's tool.
    func withRecordingModel(
        start: String = "on_demand",
        _ body: (Home, OspreyConfig, () throws -> [JSONValue]) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-warm")
        defer { directory.remove() }
        let home = Home(root: directory.url.appendingPathComponent("home"))
        try home.bootstrap()
        try home.workspaceDirectory.writeFile("notes.txt", "The osprey returns at dawn.\n")
        let script = directory.url.appendingPathComponent("model.py")
        try Self.server.write(to: script, atomically: true, encoding: .utf8)
        try directory.url.writeFile("workspace", home.workspaceDirectory.path)
        var config = OspreyConfig()
        config.localModel.command = ["python3", script.path]
        config.localModel.chatFormat = "chatml-function-calling"
        config.localModel.modelPath = script.path
        config.localModel.port = freeLoopbackPort()
        config.localModel.start = start
        var agent = OspreyConfig.Agent()
        agent.tools = ["read_file"]
        config.agents["default"] = agent
        let record = directory.url.appendingPathComponent("requests.jsonl")
        try await body(home, config) {
            let text = (try? String(contentsOf: record, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        }
    }

    /// Polls `requests` until there are `count` (the warm-up is made in the background).
    func waitFor(_ count: Int, of requests: () throws -> [JSONValue]) async throws -> [JSONValue] {
        let deadline = ContinuousClock.now + .seconds(60)
        while try requests().count < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return try requests()
    }

    @Test(.timeLimit(.minutes(2)))
    func afterARunTheOpeningWithTheToolsIsEvaluatedAgainForTheNextRun() async throws {
        try await withRecordingModel { home, config, requests in
            let store = try Store.inMemory()
            let runtime = try AgentRuntime(config: config, store: store, home: home)
            let server = try #require(runtime.localModel)
            defer { Task { await server.stop() } }
            let agent = try await runtime.agent(named: "default")
            // Given a run whose first call shows the model its tools and whose last, after the tool, shows none
            let session = try await store.sessions.create(actor: .user("test"))
            let result = try await agent.run("Read notes.txt", session: session.id, actor: .user("test")) { _ in }
            #expect(result.message.text == "Done.")
            // Then one more request follows the run's two: the first call's opening alone, with one token to make
            let made = try await waitFor(3, of: requests)
            try #require(made.count == 3)
            let (first, last, warm) = (made[0], made[1], made[2])
            #expect(first["tool_choice"] != "none" && last["tool_choice"] == "none")
            #expect(warm["max_tokens"] == 1)
            #expect(warm["tools"] == first["tools"] && warm["tool_choice"] == first["tool_choice"])
            let opening = try #require(warm["messages"]?.arrayValue)
            #expect(opening.count == 2)
            // (the instructions as they are now: naming the file the run left, which the run's first call could not)
            let instructions = try #require(first["messages"]?.arrayValue?.first?["content"]?.stringValue)
            #expect(!instructions.contains("made-by-the-run.txt"))
            #expect(opening.first?["role"] == "system")
            #expect(opening.first?["content"]?.stringValue?.contains("made-by-the-run.txt") == true)
            let now = agent.openingRequest().instructions ?? ""
            #expect(opening.first == .object(["role": "system", "content": .string(now)]))
            #expect(opening.last?["role"] == "user" && opening.last?["content"] == "")
            // And it is no call of the run: the ledger has the run's two
            let calls = try await store.ledger.events(filter: EventFilter(type: "llm.call"))
            #expect(calls.count == 2)
            #expect(await server.warmUps == 1)
            // And a run that ends on a call showing the tools (answered in words) begins none
            let words = try await agent.run("Hello", session: session.id, actor: .user("test")) { _ in }
            #expect(words.message.text == "Done.")
            #expect(await server.warmUps == 1)
            #expect(try requests().count == 4)
            await server.stop()
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func startedWithTheGatewayTheDefaultAgentsOpeningIsEvaluatedBeforeAnyRun() async throws {
        try await withRecordingModel(start: "with_gateway") { home, config, requests in
            let kernel = try await Kernel(home: home, config: config, store: try Store.inMemory(), port: 0)
            let service = try #require(
                kernel.services(logger: Logger(label: "test")).first { $0 is LocalModelService }
            )
            let running = Task { try await service.run() }
            // Then, with no run, the server is started and given the default agent's opening
            let made = try await waitFor(1, of: requests)
            running.cancel()
            _ = await running.result
            try #require(made.count == 1)
            let agent = try await kernel.runtime.agent(named: "default")
            let opening = agent.openingRequest()
            let messages = try #require(made[0]["messages"]?.arrayValue)
            #expect(made[0]["max_tokens"] == 1)
            #expect(messages.first?["content"] == .string(opening.instructions ?? ""))
            #expect(messages.count == 2 && messages.last?["content"] == "")
            #expect(made[0]["tools"]?.arrayValue?.compactMap { $0["function"]?["name"]?.stringValue } == ["read_file"])
            // And the service stopped the server when it was cancelled
            #expect(await kernel.runtime.localModel?.isRunning == false)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aStoppedServerIsNeverStartedAgain() async throws {
        try await withRecordingModel { home, config, _ in
            // Given a running server
            let runtime = try AgentRuntime(config: config, store: try Store.inMemory(), home: home)
            let server = try #require(runtime.localModel)
            try await server.ensureRunning()
            #expect(await server.isRunning)
            // When the gateway's shutdown stops it
            await server.stop()
            #expect(await !server.isRunning)
            // Then a call still under way cannot start another behind the exiting gateway, and says why
            await #expect(throws: ConfigError.self) { try await server.ensureRunning() }
            let provider = LocalModelProvider(server: server)
            do {
                _ = try await provider.respond(to: ModelRequest(model: "fake", messages: [.user("Hello")])) { _ in }
                Issue.record("the stopped local model answered")
            } catch let error as ProviderError {
                #expect("\(error)".contains("stopped"))
            }
            await server.superviseOnce()
            #expect(await !server.isRunning)
            #expect(!FileManager.default.fileExists(atPath: server.pidFile.path))
        }
    }

    @Test func startIsOnDemandOrWithTheGateway() throws {
        #expect(try OspreyConfig(toml: "[local_model]\nstart = \"with_gateway\"\n").localModel.start == "with_gateway")
        #expect(OspreyConfig().localModel.start == "on_demand")
        #expect(throws: ConfigError.self) { try OspreyConfig(toml: "[local_model]\nstart = \"eager\"\n") }
    }
}
