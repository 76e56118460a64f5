import ArgumentParser
import Foundation
import OspreyAgent
import OspreyCore
import OspreyProviders
import OspreyScheduler
import OspreyStore
import OspreyTools

/// `osprey-bench tasks`: memory per idle session, and how fast the supervisor turns queued tasks into agent runs.
struct TasksBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "KB per idle session (10,000) and tasks started/s and LLM round trips/s (1,000 queued tasks)."
    )
    @Option(help: "Idle sessions to create.") var sessions = 10_000
    @Option(help: "Tasks to queue.") var tasks = 1_000
    @Option(help: "Tasks running at once.") var concurrency = 64

    /// A model that answers at once: the cost measured is the gateway's own.
    struct InstantProvider: ModelProvider {
        func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
            ModelReply(
                message: .assistant("done"),
                usage: Usage(inputTokens: 50, outputTokens: 2),
                stopReason: .endTurn
            )
        }
    }

    static func residentKB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    func run() async throws {
        for durability in [Store.Durability.normal, .full] {
            try await measure(durability)
        }
    }

    func measure(_ durability: Store.Durability) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "osprey-bench-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store.open(
            path: directory.appendingPathComponent("osprey.db").path,
            ledgerKey: Array(repeating: 3, count: 32),
            durability: durability
        )
        print("ledger synchronous=\(durability.rawValue.uppercased())")
        let before = Self.residentKB()
        for _ in 0..<sessions { _ = try await store.sessions.create(agent: "bench", title: "idle", actor: .bench) }
        let after = Self.residentKB()
        print(
            String(
                format:
                    "  %d idle sessions: RSS %d -> %d KB, %.2f KB per session (sessions live in SQLite, not in memory)",
                sessions,
                before,
                after,
                Double(after - before) / Double(sessions)
            )
        )
        let workspace = try Workspace(root: directory.appendingPathComponent("workspace"))
        let router = OspreyProviders.Router(providers: ["instant": InstantProvider()])
        let meter = Meter(store: store) { _ in nil }
        var settings = OspreyConfig.Agent()
        settings.contextTokens = 10_000_000
        let agent = Agent(
            name: "bench",
            settings: settings,
            routes: [ModelRoute(provider: "instant", model: "instant")],
            router: router,
            toolbox: .builtIn,
            store: store,
            meter: meter,
            workspace: workspace
        )
        let supervisor = Supervisor(
            store: store,
            limits: Supervisor.Limits(maxConcurrent: concurrency, perProvider: concurrency)
        ) { task, _ in
            let result = try await agent.run(task.instructions, session: task.session, actor: .bench) { _ in }
            return TaskOutcome(result: result.message.text, tokens: 52)
        }
        for index in 0..<tasks {
            _ = try await store.tasks.submit(
                Tasks.Draft(title: "task \(index)", instructions: "go", priority: index % 10),
                actor: .bench
            )
        }
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await supervisor.run() }
            try await supervisor.recover()
            while true {
                let load = await supervisor.load
                if load.queued == 0 && load.running == 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            group.cancelAll()
        }
        let (seconds, attoseconds) = (clock.now - start).components
        let elapsed = Double(seconds) + Double(attoseconds) / 1e18
        let completed = try await store.tasks.list(status: .completed, limit: tasks + 1).count
        print(
            String(
                format:
                    "  %d queued tasks, %d at once: %d completed in %.2f s = %.0f tasks/s = %.0f LLM round trips/s (scripted provider)",
                tasks,
                concurrency,
                completed,
                elapsed,
                Double(completed) / elapsed,
                Double(completed) / elapsed
            )
        )
    }
}
