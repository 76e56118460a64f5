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
    /// A fresh home in `directory`, its workspace holding `notes.txt`, and a config with no provider and the local
    /// model on a free port.
    static func localHome(in directory: TemporaryDirectory) throws -> (Home, OspreyConfig) {
        let home = Home(root: directory.url)
        try home.bootstrap()
        try home.workspaceDirectory.writeFile("notes.txt", "The osprey returns at dawn.\nSecond line.\n")
        var config = OspreyConfig()
        config.localModel.port = freeLoopbackPort()
        return (home, config)
    }

    /// `question` asked of `agent` in a new session; the run's result and the session.
    static func ask(_ question: String, _ agent: Agent, _ store: Store) async throws -> (RunResult, Session) {
        let session = try await store.sessions.create(actor: .user("test"))
        let result = try await agent.run(question, session: session.id, actor: .user("test")) { _ in }
        return (result, session)
    }

    /// A fresh home with no provider: the default agent runs on the local model.
    func withLocalAgent(_ body: (Store, Agent, Home) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-local")
        defer { directory.remove() }
        let (home, config) = try Self.localHome(in: directory)
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
            let (result, _) = try await Self.ask("Read notes.txt and tell me its first line", agent, store)
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
            let (result, session) = try await Self.ask("Say hello in one short sentence.", agent, store)
            #expect(!result.message.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            // Its own words, not the tool list's format text (which the 135M model copied when it wrote after it)
            let format = ["message:", "<message>", "functions.", "function calls", "You can respond"]
            #expect(!format.contains(where: result.message.text.contains), "\(result.message.text)")
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

    /// The 135M model leans to tools whatever it is asked; the launcher calibrates its choice against a question that
    /// asks for nothing, so a general question gets words (uncalibrated, this one got a file tool).
    @Test func theLocalModelAnswersAGeneralQuestionInWordsWithoutATool() async throws {
        try await withLocalAgent { store, agent, _ in
            let (result, _) = try await Self.ask("What is the capital of France?", agent, store)
            let requested = try await store.ledger.events(filter: EventFilter(type: "tool.call.requested"))
            #expect(requested.isEmpty, "\(requested.map(\.payload))")
            #expect(result.turns == 1)
            #expect(!result.message.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
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

    /// A restarted server loads the opening its predecessor kept instead of evaluating it again; a kept state that
    /// does not load is deleted, and the prompt evaluated as usual.
    @Test func aRestartedServerLoadsTheOpeningItsPredecessorKept() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-local-openings")
        defer { directory.remove() }
        let (home, fresh) = try Self.localHome(in: directory)
        var config = fresh
        // Tools that cannot change the workspace, whose listing is in the instructions: every start's opening is the same
        var agent = OspreyConfig.Agent()
        agent.tools = ["read_file", "list_dir", "glob", "grep", "list_tasks", "check_task", "query_memories"]
        config.agents["default"] = agent
        let store = try Store.inMemory()
        let logFile = home.logsDirectory.appendingPathComponent("local-model.log")
        let states = home.cacheDirectory.appendingPathComponent("local-model")
        /// Asks `question` through a runtime of its own, so a server of its own, which it stops; returns what the
        /// server wrote to the log.
        func ask(_ question: String) async throws -> String {
            let before = (try? Data(contentsOf: logFile))?.count ?? 0
            let runtime = try AgentRuntime(config: config, store: store, home: home)
            let server = try #require(runtime.localModel)
            do {
                let agent = try await runtime.agent(named: "default")
                _ = try await Self.ask(question, agent, store)
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
            return String(decoding: try Data(contentsOf: logFile).dropFirst(before), as: UTF8.self)
        }
        /// The files kept in the one directory of this model and settings.
        func kept() throws -> [URL] {
            let folders = try FileManager.default.contentsOfDirectory(at: states, includingPropertiesForKeys: nil)
            #expect(folders.count == 1)
            return try FileManager.default.contentsOfDirectory(
                at: try #require(folders.first),
                includingPropertiesForKeys: nil
            )
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
        /// The tokens the first prompt a server evaluated counted (llama.cpp's `prompt eval time = … / N tokens`).
        func firstEvaluated(_ log: String) throws -> Int {
            let line = try #require(log.split(separator: "\n").first { $0.contains("prompt eval time =") })
            let count = try #require(line.split(separator: "/").last?.split(separator: " ").first)
            return try #require(Int(count))
        }
        func number(after prefix: String, in log: String) throws -> Int {
            let rest = try #require(log.range(of: prefix).map { log[$0.upperBound...] })
            return try #require(Int(rest.prefix { $0.isNumber }))
        }

        // Given a first server, which evaluated the default agent's opening and kept it (no user's words: it ends
        // before the first user turn), in files only the owner reads
        let first = try await ask("Say hello in one short sentence.")
        let opening = try number(after: "osprey: kept the state of a ", in: first)
        #expect(opening >= 256, "\(first.suffix(3000))")
        #expect(try firstEvaluated(first) > opening)
        let files = try kept()
        #expect(files.map { $0.pathExtension }.sorted() == ["npy", "state"], "\(files)")
        for file in files {
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }

        // When the gateway starts a new server and asks another question
        let second = try await ask("Which files are in the workspace?")

        // Then the server loaded the opening and evaluated only the rest of the prompt
        #expect(try number(after: "osprey: kept state loaded, ", in: second) == opening, "\(second.suffix(3000))")
        #expect(try firstEvaluated(second) < 100)
        #expect(!second.contains("osprey: kept the state of a"))

        // And a state damaged on disk is deleted, the prompt evaluated as usual, and the opening kept again
        let state = try #require(try kept().first { $0.pathExtension == "state" })
        try Data(repeating: 7, count: 4096).write(to: state)
        let third = try await ask("Say goodbye in one short sentence.")
        #expect(third.contains("not loaded"), "\(third.suffix(3000))")
        #expect(try firstEvaluated(third) > opening)
        #expect(try number(after: "osprey: kept the state of a ", in: third) == opening)
        #expect(try kept().count == 2 && !kept().contains(state))

        // When the workspace's top level changes outside a run (so the opening with it), beside four older states of
        // openings no prompt here starts with
        let folder = state.deletingLastPathComponent()
        for age in 1...4 {
            let old = folder.appendingPathComponent("old\(age)")
            try Self.npy(int32: [49_000, 49_001]).write(to: old.appendingPathExtension("tokens.npy"))
            let oldState = old.appendingPathExtension("state")
            try Data(repeating: 1, count: 1024).write(to: oldState)
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -3600 * Double(age))],
                ofItemAtPath: oldState.path
            )
        }
        // (names listed before the others, long enough that the new opening is worth keeping: ≥ 256 tokens from
        // where it parts from the kept one, whatever the tool list's length)
        for part in 1...8 {
            let name = "0\(part)-a-plan-for-counting-the-ospreys-along-the-river-at-first-light.txt"
            try home.workspaceDirectory.writeFile(name, "Count the ospreys.\n")
        }
        let fourth = try await ask("Say hello again.")
        // Then the new opening is not kept the first time it is evaluated (one state is kept already)
        let firstCall = try #require(fourth.range(of: "prompt eval time =")).lowerBound
        #expect(!fourth[..<firstCall].contains("osprey: kept the state of a"), "\(fourth.suffix(3000))")
        #expect(try kept().contains { $0.pathExtension == "seen" })
        // And it is the second time (the warm-up after that run, or the next server), and the least recently used of
        // the states beyond four go
        let fifth = try await ask("Say goodbye again.")
        let keptNow = "osprey: kept the state of a"
        #expect(
            fourth[firstCall...].contains(keptNow) || fifth.contains(keptNow),
            "\(fourth.suffix(2000))\n---\n\(fifth.suffix(2000))"
        )
        let stateFiles = try kept().map(\.lastPathComponent).filter { $0.hasSuffix(".state") }
        #expect(stateFiles.count == 4, "\(stateFiles)")
        #expect(stateFiles.contains("old1.state") && stateFiles.contains("old2.state"))
        #expect(!stateFiles.contains("old3.state") && !stateFiles.contains("old4.state"))
    }

    /// A NumPy `.npy` file (format 1.0) holding `values` as little-endian 32-bit integers.
    static func npy(int32 values: [Int32]) -> Data {
        var header = "{'descr': '<i4', 'fortran_order': False, 'shape': (\(values.count),), }"
        // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(contentsOf: [UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        for value in values { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }
}
