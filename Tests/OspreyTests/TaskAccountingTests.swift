import Foundation
import OspreyAgent
import OspreyCore
import OspreyProviders
import OspreyScheduler
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// Tasks run by a scripted model on an in-memory store, the way the gateway's kernel runs them.
struct ScriptedTaskRunner {
    let store: Store
    let provider: any ModelProvider
    let directory: TemporaryDirectory
    let meter: Meter
    var settings = OspreyConfig.Agent()

    init(store: Store, provider: any ModelProvider, settings: OspreyConfig.Agent = OspreyConfig.Agent()) throws {
        self.store = store
        self.provider = provider
        self.settings = settings
        directory = try TemporaryDirectory(prefix: "osprey-task")
        try "The osprey returns at dawn.\n".write(
            to: directory.url.appendingPathComponent("notes.txt"),
            atomically: true,
            encoding: .utf8
        )
        meter = Meter(store: store) { _ in nil }
    }

    /// The agent that runs `task`.
    func agent(for task: TaskRecord, extraTools: [any Tool] = []) throws -> Agent {
        var agent = Agent(
            name: task.agent,
            settings: settings,
            routes: [ModelRoute(provider: "scripted", model: "test")],
            router: Router(providers: ["scripted": provider], policy: RetryPolicy(maxAttempts: 1), sleep: { _ in }),
            toolbox: Toolbox(extraTools + Toolbox.builtInTools),
            store: store,
            meter: meter,
            workspace: try Workspace(root: directory.url)
        )
        agent.taskID = task.id.rawValue
        return agent
    }

    /// Runs `task` fresh, or resumes it from its transcript.
    func run(_ task: TaskRecord, resume: Bool, extraTools: [any Tool] = []) async throws -> TaskOutcome {
        let agent = try agent(for: task, extraTools: extraTools)
        let started = try await !store.sessions.messages(of: task.session, limit: 1).isEmpty
        let result =
            resume && started
            ? try await agent.resume(session: task.session) { _ in }
            : try await agent.run(task.instructions, session: task.session, actor: "task:\(task.id)") { _ in }
        return TaskOutcome(result: result.message.text)
    }
}

struct TaskEventTests {
    @Test func everyEventATaskProducesCarriesItsID() async throws {
        let store = try Store.inMemory()
        let runner = try ScriptedTaskRunner(
            store: store,
            provider: ScriptedProvider(messages: [
                .toolCall("read_file", #"{"path":"notes.txt"}"#), .assistant("Dawn."),
            ])
        )
        let supervisor = Supervisor(store: store) { task, resume in try await runner.run(task, resume: resume) }
        // Given a task whose agent calls a tool
        let task = try await SupervisorTests.running(supervisor) {
            let task = try await supervisor.submit(
                Tasks.Draft(title: "read", instructions: "Read notes.txt"),
                actor: "t"
            )
            try await SupervisorTests.waitUntil { try await store.tasks.get(task.id).isFinished }
            return task
        }
        #expect(try await store.tasks.get(task.id).status == "completed")
        // Then every event of its session names it, whoever produced the event
        let events = try await store.ledger.events(limit: 1000).filter { $0.session == task.session.rawValue }
        let types = Set(events.map(\.type))
        for type in [
            "task.created", "task.started", "message.user", "llm.call", "message.assistant", "tool.call.requested",
            "policy.decision", "tool.call.completed", "message.tool", "task.completed",
        ] {
            #expect(types.contains(type), "no \(type) event")
        }
        #expect(events.filter { $0.task != task.id.rawValue }.map(\.type) == [])
    }

    @Test func aHumansDecisionOnATasksApprovalCarriesTheTaskID() async throws {
        let store = try Store.inMemory()
        let task = try await store.tasks.submit(Tasks.Draft(title: "t", instructions: "x"), actor: "t")
        let approval = try await store.approvals.request(
            Approvals.Draft(
                agent: "default",
                session: task.session.rawValue,
                callID: "c1",
                tool: "run_command",
                arguments: "{}",
                argumentsHash: "h",
                risk: "exec",
                rule: "r",
                reason: "why"
            ),
            lifetime: 60
        )
        // The human decides outside the task's run: the event still names the task.
        _ = try await store.approvals.decide(approval.id, grant: true, by: "user:admin")
        let events = try await store.ledger.events(limit: 100).filter { $0.type.hasPrefix("approval.") }
        #expect(events.map(\.type) == ["approval.requested", "approval.granted"])
        #expect(events.allSatisfy { $0.task == task.id.rawValue })
    }
}
