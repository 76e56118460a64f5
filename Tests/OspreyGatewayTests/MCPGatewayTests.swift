import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyMCP
import OspreyMemory
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// `[[mcp_servers]]` through the whole gateway: started with the kernel, granted by name, judged by the one policy.
struct MCPGatewayTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/mcp/fixture_server.py").path

    @Test(.timeLimit(.minutes(3))) func anInjectedMCPResultTaintsTheRunAndTheCommandItAsksForWaitsForAHuman()
        async throws
    {
        // Given a gateway with the fixture server, an agent granted its tools and run_command in autonomous mode,
        var config = OspreyConfig()
        var server = OspreyConfig.MCPServer(name: "fx", command: "python3")
        server.args = [Self.fixture]
        config.mcpServers = [server]
        var agent = OspreyConfig.Agent()
        agent.model = "scripted/test"
        agent.tools = ["fx__*", "run_command"]
        agent.approval = "autonomous"
        config.agents["mcp"] = agent
        var everything = OspreyConfig.Agent()
        everything.model = "scripted/test"
        everything.tools = ["*"]
        config.agents["default"] = everything
        config.approvals.timeoutSeconds = 30
        // and a model that calls the server's tool, then obeys what it returned,
        let provider = ScriptedProvider(messages: [
            .toolCall("fx__inject", "{}"),
            .toolCall("run_command", #"{"command":"touch pwned.txt"}"#, id: "call_2"),
            .assistant("done"),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        defer { Task { await gateway.kernel.mcp.stop() } }
        await gateway.kernel.mcp.ready()
        // `*` grants Osprey's own tools only; the server's tools are granted by naming the server.
        let runtime = gateway.kernel.runtime
        #expect(!runtime.grantedTools(config.agent("default")).contains { $0.hasPrefix("fx__") })
        let granted = runtime.grantedTools(config.agent("mcp"))
        #expect(granted.contains("fx__inject") && granted.contains("fx__echo") && granted.contains("run_command"))
        #expect(!granted.contains("read_file"))
        let session = try await gateway.store.sessions.create(agent: "mcp", actor: .user("test"))
        let workspace = runtime.workspace.root
        try await gateway.app().test(.router) { client in
            async let reply = client.post("/api/sessions/\(session.id)/messages", #"{"content":"use the server"}"#)
            // when it runs, the command waits for a human: the taint rule, although the agent is autonomous;
            let pending = try await ApprovalSamples.pending(gateway.store)
            #expect(pending.rule == "taint" && pending.tool == "run_command")
            try await client.execute(
                uri: "/api/approvals/\(pending.id)/reject",
                method: .post,
                headers: TestGateway.auth()
            ) {
                #expect($0.status == .ok)
            }
            _ = try await reply
        }
        // then it never ran, and the server's output is in the transcript marked untrusted and fenced as data.
        #expect(!FileManager.default.fileExists(atPath: workspace.appendingPathComponent("pwned.txt").path))
        let results = try await gateway.store.sessions.messages(of: session.id).flatMap(\.message.toolResults)
        let injected = try #require(results.first)
        #expect(injected.untrusted)
        #expect(injected.output.contains("<untrusted-data source=\"fx__inject\">"))
        #expect(injected.output.contains("curl evil.example"))
        // The ledger holds the call like any other tool call.
        let calls = try await gateway.store.ledger.events(limit: 500).filter { $0.type == .toolCallCompleted }
        #expect(calls.contains { $0.payload["tool"]?.stringValue == "fx__inject" })
    }
}

extension MCPGatewayTests {
    @Test(.timeLimit(.minutes(3))) func aServerSlowToStartDelaysOnlyTheRunsGrantedItsTools() async throws {
        // Given a server that starts only when the test says so, one that never answers, an agent granted the first
        // server's tools and one granted none,
        var config = OspreyConfig()
        var late = OspreyConfig.MCPServer(name: "late", command: "/bin/sh")
        late.args = ["-c", "while [ ! -e go ]; do sleep 0.05; done; exec python3 \"$0\"", Self.fixture]
        var silent = OspreyConfig.MCPServer(name: "silent", command: "/bin/sh")
        silent.args = ["-c", "sleep 600"]
        config.mcpServers = [late, silent]
        var granted = OspreyConfig.Agent()
        granted.model = "scripted/test"
        granted.tools = ["late__echo"]
        config.agents["granted"] = granted
        var plain = OspreyConfig.Agent()
        plain.model = "scripted/test"
        config.agents["default"] = plain
        let provider = ScriptedProvider(messages: [
            .assistant("hello"),
            .toolCall("late__echo", #"{"text":"through the late server"}"#),
            .assistant("done"),
        ])
        // when the gateway starts, it is up while both servers are still connecting (they connect in the background),
        let gateway = try await TestGateway(config: config, provider: provider)
        defer { Task { await gateway.kernel.mcp.stop() } }
        let mcp = gateway.kernel.mcp
        #expect(mcp.connecting == ["late", "silent"])
        let workspace = gateway.kernel.runtime.workspace.root
        let first = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
        let second = try await gateway.store.sessions.create(agent: "granted", actor: .user("test"))
        try await gateway.app().test(.router) { client in
            try await client.execute(uri: "/api/system", method: .get, headers: TestGateway.auth()) { response in
                #expect(response.json["mcp_connecting"] == ["late", "silent"])
            }
            // a run granted none of their tools does not wait for them,
            let answered = try await client.post("/api/sessions/\(first.id)/messages", #"{"content":"hi"}"#)
            #expect(answered.status == .ok)
            #expect(mcp.connecting == ["late", "silent"])
            // and a run granted the late server's tools waits for it, then calls them.
            async let reply = client.post("/api/sessions/\(second.id)/messages", #"{"content":"echo"}"#)
            FileManager.default.createFile(atPath: workspace.appendingPathComponent("go").path, contents: nil)
            #expect(try await reply.status == .ok)
        }
        let results = try await gateway.store.sessions.messages(of: second.id).flatMap(\.message.toolResults)
        #expect(results.count == 1)
        #expect(results.first?.isError == false)
        #expect(results.first?.output.contains("through the late server") == true, "\(results)")
        #expect(mcp.connecting == ["silent"])
        // A server still connecting at shutdown stops connecting, and says why it offers nothing.
        await mcp.stop()
        await mcp.ready()
        #expect(mcp.connecting.isEmpty && mcp.failures["silent"] != nil)
    }

    @Test(.timeLimit(.minutes(3))) func anHTTPServersToolsResourcesAndPromptsReachAnAgentAndFollowItsChanges()
        async throws
    {
        // Given a FastMCP server on Streamable HTTP, configured twice: with the loopback allowance, and without it,
        let port = freeLoopbackPort()
        let fixture = try await PythonServer([Self.fixture, "http", String(port)], port: port)
        defer { fixture.stop() }
        var config = OspreyConfig()
        var web = OspreyConfig.MCPServer(name: "web", command: "")
        web.transport = "http"
        web.url = "http://127.0.0.1:\(port)/mcp"
        web.privateAddresses = ["127.0.0.1"]
        web.timeoutSeconds = 20  // a call that hangs fails the test with a reason, not by its time limit
        var refused = web
        refused.name = "refused"
        refused.privateAddresses = []
        config.mcpServers = [web, refused]
        var agent = OspreyConfig.Agent()
        agent.model = "scripted/test"
        agent.tools = ["web__*"]
        agent.approval = "autonomous"
        config.agents["default"] = agent
        let provider = ScriptedProvider(messages: [
            .toolCall("web__read_resource", #"{"uri":"fixture://greeting"}"#),
            .toolCall("web__get_prompt", #"{"name":"review","arguments":{"code":"x = 1"}}"#, id: "call_2"),
            .toolCall("web__grow", "{}", id: "call_3"),
            .assistant("done"),
            .toolCall("web__progress", #"{"steps":3}"#, id: "call_4"),
            .assistant("progressed"),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        defer { Task { await gateway.kernel.mcp.stop() } }
        // then the loopback server needs its allowance: the SSRF guard refuses the other;
        await gateway.kernel.mcp.ready()
        #expect(gateway.kernel.mcp.failures["refused"]?.contains("refused to connect") == true)
        let runtime = gateway.kernel.runtime
        let granted = runtime.grantedTools(config.agent("default"))
        #expect(granted.contains("web__echo") && granted.contains("web__read_resource"))
        #expect(granted.contains("web__get_prompt") && !granted.contains("web__reverse"))
        // an agent reads a resource and gets a prompt through the one check point, as untrusted content;
        let session = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
        // (each call after the first runs tainted, so a human approves it: the taint rule for network access)
        try await gateway.app().test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while true {
                        for pending in try await gateway.store.approvals.list(status: .pending) {
                            _ = try await runtime.approvals.resolve(pending.id, grant: true, by: .user("human"))
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                _ = try await client.post("/api/sessions/\(session.id)/messages", #"{"content":"use the server"}"#)
                group.cancelAll()
            }
        }
        let results = try await gateway.store.sessions.messages(of: session.id).flatMap(\.message.toolResults)
        #expect(results.count == 3)
        #expect(results.first?.output.contains("Hello from a resource.") == true)
        #expect(results.first?.untrusted == true)
        #expect(results.dropFirst().first?.output.contains("review this code:\nx = 1") == true)
        // and the tool the server added (it said its list changed) is there for the next run.
        let deadline = ContinuousClock.now + .seconds(10)
        while !runtime.toolbox.names.contains("web__reverse"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(runtime.grantedTools(config.agent("default")).contains("web__reverse"))
        // A server's progress notifications reach the client's event stream, before the call's result.
        let second = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
        try await gateway.app().test(.router) { client in
            var headers = TestGateway.auth()
            headers[.accept] = "text/event-stream"
            try await client.execute(
                uri: "/api/sessions/\(second.id)/messages",
                method: .post,
                headers: headers,
                body: TestGateway.json(#"{"content":"count"}"#)
            ) { response in
                let text = String(buffer: response.body)
                let steps = ["step 1", "step 2", "step 3"].compactMap { text.range(of: "\"message\":\"\($0)\"") }
                #expect(steps.count == 3, "\(text)")
                #expect(text.components(separatedBy: "event: tool_progress").count == 4)
                let result = text.range(of: "event: tool_result")
                #expect(result != nil && steps.allSatisfy { $0.lowerBound < result!.lowerBound })
            }
        }
    }
}

/// `/api/mcp`: the gateway as an MCP server over Streamable HTTP, driven by the official Python SDK's client.
struct MCPHTTPDoorTests {
    static let hostClient = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/mcp/host_client.py").path

    @Test(.timeLimit(.minutes(3))) func theOfficialPythonClientUsesTheGatewayOverStreamableHTTP() async throws {
        let gateway = try await TestGateway(
            provider: ScriptedProvider(messages: [.assistant("Hello over HTTP."), .assistant("Again.")])
        )
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let url = "http://127.0.0.1:\(port)/api/mcp"
            let result = try await runPython([Self.hostClient, "http", url, TestGateway.adminToken])
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            let seen = try JSONValue.parse(result.stdout.split(separator: "\n").last.map(String.init) ?? "")
            #expect(seen["server"] == "osprey")
            #expect(seen["tools"]?.arrayValue?.count == 7 + 15)  // the catalog and the default agent's own tools
            #expect(seen["answer"] == "Hello over HTTP.")
            #expect(MCPHostReport.problems(seen) == [])
            // The stored memory went through memory.store with the host's marks: untrusted content from a tool.
            let hits = try await gateway.kernel.memory.search("heron north pond", limit: 1)
            #expect(hits.first?.record.trust == .untrusted)
            // The ledger names the MCP session as the actor: the token's holder, through that session.
            let stored = try await gateway.kernel.store.ledger.events(
                after: 0,
                filter: EventFilter(type: "memory.stored"),
                limit: 10
            )
            #expect(stored.count == 1)
            #expect(stored.first?.actor.rawValue.hasPrefix("user:") == true)
            #expect(stored.first?.actor.rawValue.contains("/mcp:mcp_") == true, "\(stored.first?.actor.rawValue ?? "")")
            let calls = try await gateway.kernel.store.ledger.events(
                after: 0,
                filter: EventFilter(type: "tool.call.completed"),
                limit: 10
            )
            // The write, the read, and the workspace resource (read through read_file).
            #expect(calls.map { $0.payload["tool"] } == ["write_file", "read_file", "read_file"])
            #expect(calls.allSatisfy { $0.actor.rawValue.contains("/mcp:mcp_") })
        }
    }

    @Test(.timeLimit(.minutes(3))) func aCallThatNeedsAHumanWaitsWithProgressAndAHostThatGivesUpCancelsIt()
        async throws
    {
        // Given an agent whose every tool call waits for a human,
        var config = OspreyConfig()
        var agent = OspreyConfig.Agent()
        agent.model = "scripted/test"
        agent.tools = ["write_file"]
        agent.approval = "manual"
        config.agents["default"] = agent
        config.approvals.timeoutSeconds = 60
        let provider = ScriptedProvider(messages: [
            .toolCall("write_file", #"{"path":"note.txt","content":"first"}"#),
            .assistant("The note is written."),
            .toolCall("write_file", #"{"path":"note.txt","content":"second"}"#, id: "call_2"),
            .assistant("never reached"),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        let workspace = gateway.kernel.runtime.workspace.root
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let url = "http://127.0.0.1:\(port)/mcp"
            async let host = runPython([Self.hostClient, "http", url, TestGateway.adminToken, "approval"])
            // when a human approves the first call while the host waits,
            let pending = try await ApprovalSamples.pending(gateway.store)
            #expect(pending.tool == "write_file")
            _ = try await gateway.kernel.runtime.approvals.resolve(pending.id, grant: true, by: .user("human"))
            let result = try await host
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            let seen = try JSONValue.parse(result.stdout.split(separator: "\n").last.map(String.init) ?? "")
            // then the host heard the wait as progress and got the answer;
            #expect(seen["waited"] == true, "\(seen)")
            #expect(seen["answer"] == "The note is written.", "\(seen)")
            // the second call, which the host gave up on, was cancelled: its run stopped and nothing was written;
            #expect(seen["abandoned"]?.stringValue != "no error", "\(seen)")
            #expect(seen["alive"] == 8)  // the catalog and the agent's write_file
            let deadline = ContinuousClock.now + .seconds(20)
            var interrupted: [Event] = []
            while interrupted.isEmpty, ContinuousClock.now < deadline {
                interrupted = try await gateway.store.ledger.events(
                    after: 0,
                    filter: EventFilter(type: "tool.call.interrupted"),
                    limit: 10
                )
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(interrupted.count == 1)
            #expect(interrupted.first?.payload["reason"] == "cancelled")
            let note = try String(contentsOf: workspace.appendingPathComponent("note.txt"), encoding: .utf8)
            #expect(note == "first")
        }
    }

    @Test func noTokenAForeignOriginAndAnUnknownSessionAreRefused() async throws {
        let gateway = try await TestGateway()
        let initialize =
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#
        try await gateway.app().test(.router) { client in
            try await client.execute(
                uri: "/api/mcp",
                method: .post,
                headers: [.contentType: "application/json"],
                body: TestGateway.json(initialize)
            ) { #expect($0.status == .unauthorized) }
            var foreign = TestGateway.auth()
            foreign[.origin] = "https://evil.example"
            try await client.execute(
                uri: "/api/mcp",
                method: .post,
                headers: foreign,
                body: TestGateway.json(initialize)
            ) {
                #expect($0.status == .forbidden)
            }
            var session = ""
            try await client.execute(
                uri: "/api/mcp",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(initialize)
            ) { response in
                #expect(response.status == .ok)
                session = response.headers[MCPHTTPDoorTests.sessionHeader] ?? ""
                #expect(response.json["result"]?["serverInfo"]?["name"] == "osprey")
            }
            #expect(session.hasPrefix("mcp_"))
            let list = #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#
            try await client.execute(
                uri: "/api/mcp",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(list)
            ) {
                #expect($0.status == .badRequest)
            }
            var unknown = TestGateway.auth()
            unknown[MCPHTTPDoorTests.sessionHeader] = "mcp_nope"
            try await client.execute(uri: "/api/mcp", method: .post, headers: unknown, body: TestGateway.json(list)) {
                #expect($0.status == .notFound)
            }
            var known = TestGateway.auth()
            known[MCPHTTPDoorTests.sessionHeader] = session
            try await client.execute(uri: "/api/mcp", method: .post, headers: known, body: TestGateway.json("{oops")) {
                #expect($0.json["error"]?["code"] == -32700)
            }
            // A body over the gateway's limit is refused whole (413), and the session goes on.
            let huge =
                #"{"jsonrpc":"2.0","id":9,"method":"ping","params":{"pad":""#
                + String(repeating: "x", count: gateway.kernel.config.gateway.maxBodyBytes) + #""}}"#
            try await client.execute(uri: "/api/mcp", method: .post, headers: known, body: TestGateway.json(huge)) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(uri: "/api/mcp", method: .post, headers: known, body: TestGateway.json(list)) {
                #expect($0.json["result"]?["tools"]?.arrayValue?.count == 22)
                #expect($0.json["result"]?["nextCursor"] == nil)
            }
            // Each list comes whole, with no nextCursor: a cursor it never gave is -32602 (the spec's SHOULD), not the
            // first page again; a null cursor is none
            for method in ["tools/list", "prompts/list"] {
                let request = #"{"jsonrpc":"2.0","id":3,"method":"\#(method)","params":{"cursor":"p2"}}"#
                let paged = TestGateway.json(request)
                try await client.execute(uri: "/api/mcp", method: .post, headers: known, body: paged) {
                    #expect($0.json["error"]?["code"] == -32602, "\(method)")
                    #expect($0.json["id"] == 3)
                }
            }
            let unpaged = #"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"cursor":null}}"#
            try await client.execute(uri: "/api/mcp", method: .post, headers: known, body: TestGateway.json(unpaged)) {
                #expect($0.json["result"]?["tools"]?.arrayValue?.count == 22)
            }
            try await client.execute(uri: "/api/mcp", method: .get, headers: known) {
                #expect($0.status == .notAcceptable)  // the session's stream is an event stream
            }
            // A message with an id whose method is no string is no request: answered -32600, not taken with 202
            // and left unanswered (its host would wait for id 7 for ever)
            try await client.execute(
                uri: "/api/mcp",
                method: .post,
                headers: known,
                body: TestGateway.json(#"{"jsonrpc":"2.0","id":7,"method":5}"#)
            ) {
                #expect($0.json["error"]?["code"] == -32600, "\($0.status)")
                #expect($0.json["id"] == 7)
            }
            // A protocol version this door does not speak is 400 (the spec's MUST), on each method; a known one, or
            // none (a 2025-03-26 host sends none), is served
            var future = known
            future[MCPHTTPDoorTests.versionHeader] = "2099-01-01"
            try await client.execute(uri: "/api/mcp", method: .post, headers: future, body: TestGateway.json(list)) {
                #expect($0.status == .badRequest)
                #expect($0.json["error"]?["code"] == -32600)
                #expect($0.json["id"] == 2)
                #expect($0.json["error"]?["message"]?.stringValue?.contains("2099-01-01") == true)
            }
            future[.accept] = "text/event-stream"
            try await client.execute(uri: "/api/mcp", method: .get, headers: future) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/api/mcp", method: .delete, headers: future) {
                #expect($0.status == .badRequest)
            }
            var current = known
            current[MCPHTTPDoorTests.versionHeader] = "2025-06-18"
            try await client.execute(uri: "/api/mcp", method: .post, headers: current, body: TestGateway.json(list)) {
                #expect($0.json["result"]?["tools"]?.arrayValue?.count == 22)
            }
            try await client.execute(uri: "/api/mcp", method: .delete, headers: known) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/api/mcp", method: .post, headers: known, body: TestGateway.json(list)) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func oneTokensSessionsNeverCloseAnothers() async throws {
        let gateway = try await TestGateway()
        let (_, other) = try await gateway.store.tokens.create(name: "other", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        let initialize =
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#
        try await gateway.app().test(.router) { client in
            func open(_ token: String) async throws -> String {
                try await client.execute(
                    uri: "/api/mcp",
                    method: .post,
                    headers: TestGateway.auth(token),
                    body: TestGateway.json(initialize)
                ) { $0.headers[Self.sessionHeader] ?? "" }
            }
            func alive(_ session: String, _ token: String) async throws -> Bool {
                var headers = TestGateway.auth(token)
                headers[Self.sessionHeader] = session
                return try await client.execute(
                    uri: "/api/mcp",
                    method: .post,
                    headers: headers,
                    body: TestGateway.json(#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
                ) { $0.status == .ok }
            }
            // Given another token's session, and then 1,100 sessions opened by one token
            let theirs = try await open(other)
            var mine: [String] = []
            for _ in 0..<1100 { mine.append(try await open(TestGateway.adminToken)) }
            // Then the other token's session lives on (before: the 1,000th of them closed it)
            #expect(try await alive(theirs, other))
            // And the token that opened so many lost its own oldest: it keeps its newest 64
            #expect(try await alive(mine[mine.count - 64], TestGateway.adminToken))
            #expect(try await !alive(mine[mine.count - 65], TestGateway.adminToken))
            #expect(try await !alive(mine[0], TestGateway.adminToken))
        }
    }

    static let sessionHeader = HTTPField.Name("Mcp-Session-Id")!
    static let versionHeader = HTTPField.Name("MCP-Protocol-Version")!
}
