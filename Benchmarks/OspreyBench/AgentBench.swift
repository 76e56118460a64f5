import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import OspreyAgent
import OspreyCore
import OspreyProviders
import OspreyStore
import OspreyTools
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `osprey-bench agent`: the gateway's own cost per agent step, against a scripted OpenAI-compatible server in
/// this process, beside the same requests made by a bare HTTP client in the same run.
struct AgentBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "CPU per LLM round trip with a tool call (N = 1, 10, 50) and added time to first byte."
    )
    @Option(help: "Repetitions of each measurement.") var repetitions = 20

    /// Answers like a model that calls `list_dir` until the conversation holds `steps - 1` tool results, then says "done".
    static func scriptedModel() -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router()
        router.post("/v1/chat/completions") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 16 << 20)
            let json = try JSONValue.parse(body.readableBytesView)
            let steps = Int(json["model"]?.stringValue?.split(separator: "-").last ?? "1") ?? 1
            let results = json["messages"]?.arrayValue?.filter { $0["role"] == "tool" }.count ?? 0
            let chunks: [String]
            if results < steps - 1 {
                chunks = [
                    #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_\#(results)","type":"function","function":{"name":"list_dir","arguments":""}}]}}]}"#,
                    #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
                ]
            } else {
                chunks = [
                    #"{"choices":[{"index":0,"delta":{"role":"assistant","content":"do"}}]}"#,
                    #"{"choices":[{"index":0,"delta":{"content":"ne"},"finish_reason":"stop"}]}"#,
                ]
            }
            let text =
                (chunks + [#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":5}}"#, "[DONE]"]).map {
                    "data: \($0)\n\n"
                }
                .joined()
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream"],
                body: .init(byteBuffer: ByteBuffer(string: text))
            )
        }
        return router
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
            usage.ru_utime.tv_usec + usage.ru_stime.tv_usec
        ) / 1e6
    }

    func run() async throws {
        try await report { try await Self.withScriptedModel { try await measure(baseURL: $0) } }
    }

    /// Runs `body` with the base URL (`http://127.0.0.1:PORT/v1`) of ``scriptedModel()`` served in this process.
    static func withScriptedModel(_ body: (String) async throws -> Void) async throws {
        try await serving(scriptedModel(), body)
    }

    /// Runs `body` with the base URL (`http://127.0.0.1:PORT/v1`) of `router` served in this process.
    static func serving(
        _ router: Hummingbird.Router<BasicRequestContext>,
        _ body: (String) async throws -> Void
    ) async throws {
        let (ready, signal) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                signal.yield(channel.localAddress?.port ?? 0)
                signal.finish()
            },
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var port = 0
            for await bound in ready { port = bound }
            try await body("http://127.0.0.1:\(port)/v1")
            group.cancelAll()
        }
    }

    func measure(baseURL: String) async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "osprey-bench-agent-\(getpid())"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store.open(
            path: directory.appendingPathComponent("osprey.db").path,
            ledgerKey: Array(repeating: 3, count: 32)
        )
        let workspace = try Workspace(root: directory.appendingPathComponent("workspace"))
        let provider = OpenAIProvider(name: "bench", baseURL: baseURL, apiKey: nil)
        let router = OspreyProviders.Router(providers: ["bench": provider])
        let meter = Meter(store: store) { _ in Pricing(inputPerMillion: 1, outputPerMillion: 2) }
        print(
            "agent step overhead (scripted OpenAI-compatible server in-process, \(repetitions) repetitions, ledger synchronous=FULL)"
        )
        var perStep: [Int: Double] = [:]
        for steps in [1, 10, 50] {
            var settings = OspreyConfig.Agent()
            settings.maxTurns = steps + 1
            settings.contextTokens = 10_000_000
            let agent = Agent(
                name: "bench",
                settings: settings,
                routes: [ModelRoute(provider: "bench", model: "bench-\(steps)")],
                router: router,
                toolbox: .builtIn,
                store: store,
                meter: meter,
                workspace: workspace
            )
            // Warm up both paths once.
            let warm = try await store.sessions.create(agent: "bench", actor: .bench)
            _ = try await agent.run("go", session: warm.id, actor: .bench) { _ in }
            _ = try await Self.bareLoop(baseURL: baseURL, steps: steps)
            var agentCPU = 0.0
            var bareCPU = 0.0
            for _ in 0..<repetitions {
                let session = try await store.sessions.create(agent: "bench", actor: .bench)
                let before = Self.cpuSeconds()
                _ = try await agent.run("go", session: session.id, actor: .bench) { _ in }
                agentCPU += Self.cpuSeconds() - before
                let bareBefore = Self.cpuSeconds()
                _ = try await Self.bareLoop(baseURL: baseURL, steps: steps)
                bareCPU += Self.cpuSeconds() - bareBefore
            }
            let agentMS = agentCPU / Double(repetitions) * 1000
            let bareMS = bareCPU / Double(repetitions) * 1000
            perStep[steps] = (agentMS - bareMS) / Double(steps)
            print(
                String(
                    format:
                        "N=%2d  agent %.2f ms CPU/run, bare client %.2f ms CPU/run, gateway overhead %.3f ms CPU/step",
                    steps,
                    agentMS,
                    bareMS,
                    perStep[steps]!
                )
            )  // set on the line above
        }
        if let one = perStep[1], let fifty = perStep[50], one > 0 {
            print(String(format: "per-step cost N=50 / N=1 = %.2f", fifty / one))
        }
        // Added time to first streamed byte: agent run start -> first text delta, vs bare request -> first content chunk.
        var settings = OspreyConfig.Agent()
        settings.contextTokens = 10_000_000
        let agent = Agent(
            name: "bench",
            settings: settings,
            routes: [ModelRoute(provider: "bench", model: "bench-1")],
            router: router,
            toolbox: .builtIn,
            store: store,
            meter: meter,
            workspace: workspace
        )
        var agentFirst: [Double] = []
        var bareFirst: [Double] = []
        for _ in 0..<repetitions {
            let session = try await store.sessions.create(agent: "bench", actor: .bench)
            let clock = ContinuousClock()
            let start = clock.now
            let first = FirstDelta()
            _ = try await agent.run("go", session: session.id, actor: .bench) { event in
                if case .textDelta = event { first.mark(clock.now - start) }
            }
            agentFirst.append(first.value.seconds * 1000)
            bareFirst.append(try await Self.bareFirstByte(baseURL: baseURL) * 1000)
        }
        agentFirst.sort()
        bareFirst.sort()
        let median = repetitions / 2
        print(
            String(
                format: "time to first streamed byte: agent %.2f ms, bare client %.2f ms, added %.2f ms (medians)",
                agentFirst[median],
                bareFirst[median],
                agentFirst[median] - bareFirst[median]
            )
        )
        try await longSession(agent: agent, store: store)
        try await manySkills(agent: agent, store: store, directory: directory)
    }

    /// A one-round run with 30 skills in the home (each a `SKILL.md`, a 200-line script and a reference), the catalog
    /// read as the gateway's runtime reads it at each run, beside the same run with none.
    func manySkills(agent: Agent, store: Store, directory: URL) async throws {
        let skills = directory.appendingPathComponent("skills")
        let instructions = String(repeating: "Read the file, then summarise it in three lines.\n", count: 30)
        for index in 0..<30 {
            let folder = skills.appendingPathComponent("skill-\(index)")
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent("scripts"),
                withIntermediateDirectories: true
            )
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent("references"),
                withIntermediateDirectories: true
            )
            try """
            ---
            name: skill-\(index)
            description: Does task \(index) for the user, carefully.
            requires:
              bins: [ls, cat]
            ---
            \(instructions)
            """.write(to: folder.appendingPathComponent("SKILL.md"), atomically: true, encoding: .utf8)
            try ("#!/bin/sh\nset -e\n" + String(repeating: "grep -c step notes.md\n", count: 200)).write(
                to: folder.appendingPathComponent("scripts/run.sh"),
                atomically: true,
                encoding: .utf8
            )
            try String(repeating: "notes\n", count: 300).write(
                to: folder.appendingPathComponent("references/notes.md"),
                atomically: true,
                encoding: .utf8
            )
        }
        var skilled = agent
        skilled.skills = { SkillCatalog.load(home: skills, workspace: nil) }
        var withSkills: [Double] = []
        var without: [Double] = []
        for _ in 0..<repetitions {
            for (runner, into) in [(agent, 0), (skilled, 1)] {
                let session = try await store.sessions.create(agent: "bench", actor: .bench)
                let before = Self.cpuSeconds()
                _ = try await runner.run("go", session: session.id, actor: .bench) { _ in }
                let spent = (Self.cpuSeconds() - before) * 1000
                if into == 0 { without.append(spent) } else { withSkills.append(spent) }
            }
        }
        withSkills.sort()
        without.sort()
        let median = repetitions / 2
        print(
            String(
                format: "a run with 30 skills in the home: %.2f ms CPU, with none %.2f ms (%.1fx; medians)",
                withSkills[median],
                without[median],
                withSkills[median] / without[median]
            )
        )
    }

    /// A one-round run in a session of 5,000 messages whose earlier turns were compacted (a summary 10 messages
    /// before its end), beside the same run in a new session: what a turn costs in a long-lived chat.
    func longSession(agent: Agent, store: Store) async throws {
        let long = try await store.sessions.create(agent: "bench", actor: .bench)
        var through = 0
        for index in 0..<5_000 {
            if index == 4_990 {
                try await store.sessions.append(
                    .system("\(Agent.compactionMarker)\(through)]\nThe user and the assistant said hello 2,495 times."),
                    to: long.id,
                    actor: .bench
                )
            }
            let message = index.isMultiple(of: 2) ? Message.user("hello \(index)") : .assistant("hello back \(index)")
            through = try await store.sessions.append(message, to: long.id, actor: .bench).0.seq
        }
        var longCPU: [Double] = []
        var freshCPU: [Double] = []
        for _ in 0..<repetitions {
            let fresh = try await store.sessions.create(agent: "bench", actor: .bench)
            var before = Self.cpuSeconds()
            _ = try await agent.run("go", session: fresh.id, actor: .bench) { _ in }
            freshCPU.append((Self.cpuSeconds() - before) * 1000)
            before = Self.cpuSeconds()
            _ = try await agent.run("go", session: long.id, actor: .bench) { _ in }
            longCPU.append((Self.cpuSeconds() - before) * 1000)
        }
        longCPU.sort()
        freshCPU.sort()
        let median = repetitions / 2
        print(
            String(
                format:
                    "a run in a compacted session of 5,000 messages: %.2f ms CPU, in a new one %.2f ms (%.1fx; medians)",
                longCPU[median],
                freshCPU[median],
                longCPU[median] / freshCPU[median]
            )
        )
    }

    /// Records the first mark only.
    final class FirstDelta: Sendable {
        private let first = Mutex<Duration?>(nil)
        func mark(_ duration: Duration) { first.withLock { $0 = $0 ?? duration } }
        var value: Duration { first.withLock { $0 } ?? .zero }
    }

    static func request(baseURL: String, model: String, tools: Int) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        var messages = #"[{"role":"user","content":"go"}"#
        for index in 0..<tools {
            messages +=
                #",{"role":"assistant","content":"","tool_calls":[{"id":"call_\#(index)","type":"function","function":{"name":"list_dir","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_\#(index)","content":"x"}"#
        }
        request.body = .bytes(ByteBuffer(string: #"{"model":"\#(model)","stream":true,"messages":\#(messages)]}"#))
        return request
    }

    /// The same conversation as the agent's, made with a bare client: N requests, each body read to its end.
    static func bareLoop(baseURL: String, steps: Int) async throws -> Int {
        var bytes = 0
        for step in 0..<steps {
            let response = try await HTTPTransport.shared.client.execute(
                request(baseURL: baseURL, model: "bench-\(steps)", tools: step),
                timeout: .seconds(30)
            )
            for try await chunk in response.body { bytes += chunk.readableBytes }
        }
        return bytes
    }

    static func bareFirstByte(baseURL: String) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await HTTPTransport.shared.client.execute(
            request(baseURL: baseURL, model: "bench-1", tools: 0),
            timeout: .seconds(30)
        )
        var first: Duration?
        for try await chunk in response.body where first == nil && chunk.readableBytes > 0 {
            first = clock.now - start
        }
        return (first ?? .zero).seconds
    }
}
