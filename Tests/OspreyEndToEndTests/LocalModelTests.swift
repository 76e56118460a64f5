import Foundation
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// End to end against the real local model (SmolLM2-135M under llama.cpp's server), which `.ci/run` installs.
@Suite(.serialized)
struct LocalModelTests {
    /// A fresh home with no provider, its workspace holding `notes.txt`: the default agent runs on the local model.
    func withLocalAgent(_ body: (Store, Agent, Home) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-local")
        defer { directory.remove() }
        let home = Home(root: directory.url)
        try home.bootstrap()
        try home.workspaceDirectory.writeFile("notes.txt", "The osprey returns at dawn.\nSecond line.\n")
        var config = OspreyConfig()
        config.localModel.port = freeLoopbackPort()
        #expect(config.localModelEnabled)
        let store = try Store.inMemory()
        let runtime = try AgentRuntime(config: config, store: store, home: home)
        let server = try #require(runtime.localModel)
        do {
            let agent = try await runtime.agent(named: "default")
            #expect(agent.routes.map(\.description) == ["local/smollm2"])
            try await body(store, agent, home)
            #expect(await server.isRunning)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        #expect(await !server.isRunning)
    }

    @Test func theLocalModelReadsAFileWithAToolAndQuotesIt() async throws {
        try await withLocalAgent { store, agent, _ in
            let session = try await store.sessions.create(actor: .user("test"))
            let result = try await agent.run(
                "Read notes.txt and tell me its first line",
                session: session.id,
                actor: .user("test")
            ) { _ in }
            // The model called read_file on the real file and its answer quotes the first line.
            let completed = try await store.ledger.events(filter: EventFilter(type: "tool.call.completed"))
            #expect(completed.first?.payload["tool"] == "read_file")
            #expect(completed.first?.payload["output"]?.stringValue?.contains("The osprey returns at dawn.") == true)
            #expect(result.message.text.contains("The osprey returns at dawn"))
            // Every model call is metered, by estimate when the server reports no usage.
            let calls = try await store.ledger.events(filter: EventFilter(type: "llm.call"))
            #expect(calls.count == result.turns)
            #expect(calls.allSatisfy { $0.payload["outcome"] == "ok" && ($0.payload["tokens_in"]?.intValue ?? 0) > 0 })
        }
    }

    /// llama-cpp-python's function-calling template returns an answer in words empty when tools are offered; Osprey's
    /// launcher (`osprey-function-calling`) leaves the words free, so a plain question gets words from one request.
    @Test func theLocalModelAnswersAPlainQuestionInWords() async throws {
        try await withLocalAgent { store, agent, home in
            let session = try await store.sessions.create(actor: .user("test"))
            let result = try await agent.run(
                "Say hello in one short sentence.",
                session: session.id,
                actor: .user("test")
            ) { _ in }
            #expect(!result.message.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            let stored = try await store.sessions.messages(of: session.id, limit: 100)
            #expect(stored.last?.message.text == result.message.text)
            // One chat request to the server: the words came with the tools offered (no second request without them).
            let log = try String(
                contentsOf: home.logsDirectory.appendingPathComponent("local-model.log"),
                encoding: .utf8
            )
            #expect(log.components(separatedBy: "POST /v1/chat/completions").count - 1 == 1, "\(log.suffix(2000))")
        }
    }

    @Test func anotherProcessOnTheConfiguredPortIsNeverMistakenForTheLocalModel() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-local-port")
        defer { directory.remove() }
        // Given an impostor that answers like a model server on the configured port
        let impostor = ScriptedHTTPServer(responses: [], fallback: .init(chunks: [#"{"data":[{"id":"evil"}]}"#]))
        try await impostor.run { impostor in
            var settings = OspreyConfig().localModel
            settings.port = impostor.port
            let server = LocalModelServer(
                settings: settings,
                logFile: directory.url.appendingPathComponent("local.log")
            )
            // When the gateway starts its local model
            do {
                try await server.ensureRunning()
            } catch {
                await server.stop()
                throw error
            }
            // Then it runs its own server on another port and never talks to the impostor
            #expect(!server.baseURL.contains(":\(impostor.port)/"))
            #expect(await server.isRunning)
            #expect(impostor.requests.isEmpty)
            await server.stop()
        }
    }
}
