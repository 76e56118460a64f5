import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyPlugins
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// Wasm plugins installed in the home, loaded by the kernel and called by an agent through the one check point.
struct PluginGatewayTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/plugins")

    @Test(.timeLimit(.minutes(3))) func anAgentCallsPluginsAndALoopingOneNeitherHangsNorHoldsTheGateway()
        async throws
    {
        var config = OspreyConfig()
        var agent = OspreyConfig.Agent()
        agent.model = "scripted/test"
        agent.tools = ["wordcount__*", "spin__*"]
        config.agents["default"] = agent
        let provider = ScriptedProvider(messages: [
            .toolCall("wordcount__count", #"{"text":"one two three"}"#),
            .toolCall("spin__run", "{}", id: "call_2"),
            .assistant("done"),
        ])
        let built = try TemporaryDirectory(prefix: "osprey-plugin-build")
        defer { built.remove() }
        var folders: [URL] = []
        for name in ["wordcount", "spin"] {
            folders.append(try await WasmToolchain.buildFixture(name, from: Self.fixtures, into: built.url))
        }
        let gateway = try await TestGateway(config: config, provider: provider) { home in
            try FileManager.default.createDirectory(at: home.pluginsDirectory, withIntermediateDirectories: true)
            for folder in folders {
                try FileManager.default.copyItem(
                    at: folder,
                    to: home.pluginsDirectory.appendingPathComponent(folder.lastPathComponent)
                )
            }
        }
        #expect(gateway.kernel.plugins.failures.isEmpty, "\(gateway.kernel.plugins.failures)")
        let granted = gateway.kernel.runtime.grantedTools(config.agent("default"))
        #expect(granted.contains("wordcount__count") && granted.contains("spin__run"))
        // `*` grants Osprey's own tools, never a plugin's.
        var everything = OspreyConfig.Agent()
        everything.tools = ["*"]
        #expect(!gateway.kernel.runtime.grantedTools(everything).contains { $0.contains("__") })
        let session = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
        try await gateway.app().test(.router) { client in
            async let reply = client.post("/api/sessions/\(session.id)/messages", #"{"content":"count"}"#)
            // While the spinning plugin burns its fuel on its own thread, the gateway keeps answering.
            var answered = 0
            for _ in 0..<5 {
                try await client.execute(uri: "/health", method: .get) { if $0.status == .ok { answered += 1 } }
            }
            #expect(answered == 5)
            #expect(try await reply.status == .ok)
        }
        let results = try await gateway.store.sessions.messages(of: session.id).flatMap(\.message.toolResults)
        #expect(results.count == 2)
        #expect(results.first?.output.contains(#"{"words":3,"lines":1,"characters":13}"#) == true)
        #expect(results.first?.untrusted == true)
        #expect(results.last?.isError == true)
        #expect(results.last?.output.contains("ran out of fuel") == true, "\(results.last?.output ?? "")")
        let outcomes = try await gateway.store.ledger.events(limit: 500).filter {
            $0.type == .toolCallCompleted || $0.type == .toolCallFailed
        }
        #expect(outcomes.map { $0.payload["tool"] } == ["wordcount__count", "spin__run"])
    }

    @Test(.timeLimit(.minutes(3))) func aPluginGetsItsGrantedSecretFromTheStoreAndItsDenialsAreInTheLedger()
        async throws
    {
        var config = OspreyConfig()
        var agent = OspreyConfig.Agent()
        agent.model = "scripted/test"
        agent.tools = ["hostcalls__*"]
        config.agents["default"] = agent
        let provider = ScriptedProvider(messages: [
            .toolCall("hostcalls__secret", #"{"target":"PLUGIN_KEY"}"#),
            .toolCall("hostcalls__read", #"{"target":"../config.toml"}"#, id: "call_2"),
            .toolCall("hostcalls__count", #"{"target":"counter/runs"}"#, id: "call_3"),
            .assistant("done"),
        ])
        let built = try TemporaryDirectory(prefix: "osprey-plugin-build")
        defer { built.remove() }
        let folder = try await WasmToolchain.buildFixture("hostcalls", from: Self.fixtures, into: built.url)
        let secret = "plugin-secret-\(UUID().uuidString)"
        let gateway = try await TestGateway(config: config, provider: provider) { home in
            try FileManager.default.createDirectory(at: home.pluginsDirectory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: folder, to: home.pluginsDirectory.appendingPathComponent("hostcalls"))
            try SecretStore(home: home).set("PLUGIN_KEY", value: secret)
        }
        #expect(gateway.kernel.plugins.failures.isEmpty, "\(gateway.kernel.plugins.failures)")
        let session = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
        try await gateway.app().test(.router) { client in
            async let reply = client.post("/api/sessions/\(session.id)/messages", #"{"content":"go"}"#)
            // The plugin's first answer is untrusted (it is unsigned), and it may fetch: each later call could carry
            // data out, so each waits for a human.
            for tool in ["hostcalls__read", "hostcalls__count"] {
                let pending = try await ApprovalSamples.pending(gateway.store)
                #expect(pending.tool == tool && pending.rule == "taint", "\(pending)")
                _ = try await gateway.kernel.runtime.approvals.resolve(pending.id, grant: true, by: .user("human"))
            }
            #expect(try await reply.status == .ok)
        }
        let results = try await gateway.store.sessions.messages(of: session.id).flatMap(\.message.toolResults)
        #expect(results.count == 3)
        // The plugin had the secret (its answer is as long as the value) but the model only sees its name.
        #expect(results.first?.output.contains(#""code":\#(secret.utf8.count)"#) == true, "\(results)")
        #expect(results.first?.output.contains("[REDACTED:PLUGIN_KEY]") == true)
        #expect(results.dropFirst().first?.output.contains(#""code":-1"#) == true)
        #expect(results.last?.output.contains(#""text":"1""#) == true, "\(results)")
        let events = try await gateway.store.ledger.events(limit: 500)
        #expect(!events.contains { $0.payload.canonicalJSON.contains(secret) })
        let denials = events.filter { $0.type == .policyDecision && $0.payload["rule"] == "plugin.capability" }
        #expect(denials.map { $0.payload["target"] } == ["../config.toml"])
        #expect(denials.first?.session == session.id && denials.first?.payload["tool"] == "hostcalls__read")
    }
}
