import Foundation
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

@Suite(.serialized)
struct SecretsTests {
    static let canary = "sk-canary-7d1e0c55aa90b3f24e6b"

    @Test func secretsAreEncryptedAtRestAndRoundTrip() throws {
        let directory = try TemporaryDirectory(prefix: "osprey-secrets")
        defer { directory.remove() }
        let home = Home(root: directory.url)
        try home.bootstrap(environment: [:])
        let store = SecretStore(home: home)
        try store.set("OPENAI_KEY", value: Self.canary)
        try store.set("OTHER", value: "another-value")
        #expect(try store.names() == ["OPENAI_KEY", "OTHER"])
        #expect(try store.value("OPENAI_KEY") == Self.canary)
        let raw = try String(contentsOf: home.secretsDirectory.appendingPathComponent("secrets.json"), encoding: .utf8)
        #expect(!raw.contains(Self.canary))
        #expect(Home.mode(of: home.secretsDirectory.appendingPathComponent("master.key")) == 0o600)
        #expect(Home.mode(of: home.secretsDirectory.appendingPathComponent("secrets.json")) == 0o600)
        #expect(try store.remove("OTHER"))
        #expect(try !store.remove("OTHER"))
        #expect(throws: SecretError.self) { try store.value("OTHER") }
        #expect(throws: SecretError.self) { try store.set("bad name", value: "x") }
        // A table that is not JSON any more (a disk error, a hand edit) is named in the error, with what is wrong.
        let table = home.secretsDirectory.appendingPathComponent("secrets.json")
        let saved = try Data(contentsOf: table)
        try Data("garbage{".utf8).write(to: table)
        #expect {
            try store.names()
        } throws: { error in
            "\(error)".contains(table.path + " is malformed") && "\(error)".contains("invalid JSON at byte 0")
        }
        try saved.write(to: table)
        // A different key cannot open the store, and says so.
        try FileManager.default.removeItem(at: home.secretsDirectory.appendingPathComponent("master.key"))
        #expect(throws: SecretError.self) { try store.value("OPENAI_KEY") }
    }

    @Test(arguments: [
        ("key sk-ant-api03-abcdefghijklmnopqrstuvwx here", "key [REDACTED] here"),
        ("AKIAABCDEFGHIJKLMNOP", "[REDACTED]"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED]"),
        ("Bearer osp_" + String(repeating: "a1", count: 32), "Bearer [REDACTED]"),
        ("plain words stay", "plain words stay"),
    ])
    func commonKeyShapesAreRedactedEvenWhenUnknown(text: String, expected: String) {
        #expect(Redactor().redact(text) == expected)
    }

    @Test func aSecretReachesItsProviderAndNothingElse() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-secrets")
        defer { directory.remove() }
        let home = Home(root: directory.url)
        try home.bootstrap(environment: [:])
        try SecretStore(home: home).set("MOCK_KEY", value: Self.canary)
        // The workspace holds a file with the secret in it, which the model will ask to read.
        try home.workspaceDirectory.writeFile("leak.txt", "config: \(Self.canary)\n")
        let server = ScriptedHTTPServer(responses: [
            .sse([
                #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"leak.txt\"}"}}]},"finish_reason":"tool_calls"}]}"#,
                "[DONE]",
            ]),
            .sse([
                #"{"choices":[{"index":0,"delta":{"content":"I will not repeat keys."},"finish_reason":"stop"}]}"#,
                "[DONE]",
            ]),
        ])
        try await server.run { server in
            let config = try OspreyConfig(
                toml: """
                    [[providers]]
                    name = "mock"
                    kind = "openai"
                    base_url = "\(server.baseURL)/v1"
                    api_key = "${secret:MOCK_KEY}"
                    models = ["m"]
                    [agents.default]
                    model = "mock/m"
                    """
            )
            let store = try Store.open(home: home)
            let runtime = try AgentRuntime(config: config, store: store, home: home)
            let session = try await store.sessions.create(actor: .user("test"))
            let result = try await runtime.agent(named: "default").run(
                "Read leak.txt; also my key is \(Self.canary)",
                session: session.id,
                actor: .user("test")
            ) { _ in }
            #expect(result.message.text == "I will not repeat keys.")
            // Injected at the boundary: the provider got it as a header…
            #expect(server.requests.allSatisfy { $0.headers["authorization"] == "Bearer \(Self.canary)" })
            // …but the tool result the model saw was redacted.
            let second = try #require(server.requests.last)
            #expect(second.body.contains("[REDACTED:MOCK_KEY]"))
            #expect(!second.body.contains("config: \(Self.canary)"))
            // No request body carried it either: not the prompt the user typed it into, not the tool result.
            #expect(server.requests.allSatisfy { !$0.body.contains(Self.canary) })
            // And it appears nowhere in the ledger or the transcript.
            var export = ""
            _ = try await store.ledger.export { export += $0 + "\n" }
            #expect(!export.contains(Self.canary))
            #expect(export.contains("[REDACTED:MOCK_KEY]"))
            let transcript = try await store.sessions.messages(of: session.id)
            let stored = try transcript.map { try WireFormat.string($0.message) }
            #expect(!stored.contains { $0.contains(Self.canary) })
            #expect(try await store.ledger.verify().ok)
        }
    }

    @Test func aMissingSecretIsAClearConfigurationError() throws {
        let directory = try TemporaryDirectory(prefix: "osprey-secrets")
        defer { directory.remove() }
        let home = Home(root: directory.url)
        try home.bootstrap(environment: [:])
        let config = try OspreyConfig(
            toml: """
                [[providers]]
                name = "mock"
                api_key = "${secret:NOPE}"
                """
        )
        do {
            _ = try AgentRuntime(config: config, store: try Store.inMemory(), home: home)
            Issue.record("expected a configuration error")
        } catch let error as ConfigError {
            #expect(error.message.contains("no secret named 'NOPE'"))
        }
    }
}
