import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyAgent
import OspreyCore
import OspreyGateway
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
        try directory.url.writeFile("notes.txt", "The osprey returns at dawn.\n")
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
        agent.taskID = task.id
        return agent
    }

    /// Runs `task` fresh, or resumes it from its transcript.
    func run(_ task: TaskRecord, resume: Bool, extraTools: [any Tool] = []) async throws -> TaskOutcome {
        let result = try await agent(for: task, extraTools: extraTools).perform(task, resume: resume)
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
        let task = try await TestRuns.running(supervisor) {
            let task = try await supervisor.submit(
                Tasks.Draft(title: "read", instructions: "Read notes.txt"),
                actor: .test
            )
            try await TestRuns.waitUntil { try await store.tasks.get(task.id).isFinished }
            return task
        }
        #expect(try await store.tasks.get(task.id).status == .completed)
        // Then every event of its session names it, whoever produced the event
        let events = try await store.ledger.events(limit: 1000).filter { $0.session == task.session }
        let types = Set(events.map(\.type.rawValue))
        for type in [
            "task.created", "task.started", "message.user", "llm.call", "message.assistant", "tool.call.requested",
            "policy.decision", "tool.call.completed", "message.tool", "task.completed",
        ] {
            #expect(types.contains(type), "no \(type) event")
        }
        #expect(events.filter { $0.task != task.id }.map(\.type.rawValue) == [])
    }

    @Test func aHumansDecisionOnATasksApprovalCarriesTheTaskID() async throws {
        let store = try Store.inMemory()
        let task = try await store.tasks.submit(Tasks.Draft(title: "t", instructions: "x"), actor: .test)
        let approval = try await store.approvals.request(
            Approvals.Draft(
                agent: "default",
                session: task.session,
                callID: "c1",
                tool: "run_command",
                arguments: "{}",
                argumentsHash: "h",
                risk: .exec,
                rule: "r",
                reason: "why"
            ),
            lifetime: 60
        )
        // The human decides outside the task's run: the event still names the task.
        _ = try await store.approvals.decide(approval.id, grant: true, by: .user("admin"))
        let events = try await store.ledger.events(limit: 100).filter { $0.type.rawValue.hasPrefix("approval.") }
        #expect(events.map(\.type.rawValue) == ["approval.requested", "approval.granted"])
        #expect(events.allSatisfy { $0.task == task.id })
    }
}

struct TaskBudgetTests {
    /// One call that asks for `read_file`, then an answer: 1,000 tokens each.
    static func expensiveModel(
        tool: String = "read_file",
        arguments: String = #"{"path":"notes.txt"}"#
    )
        -> ScriptedProvider
    {
        ScriptedProvider(replies: [
            ModelReply(
                message: .toolCall(tool, arguments),
                usage: Usage(inputTokens: 900, outputTokens: 100),
                stopReason: .toolUse
            ),
            ModelReply(
                message: .assistant("Done."),
                usage: Usage(inputTokens: 900, outputTokens: 100),
                stopReason: .endTurn
            ),
        ])
    }

    /// Small replies and one tool, so a call reserves about 250 tokens: two calls of 1,000 never fit in 1,200.
    static func settings(tools: [String] = ["read_file"]) -> OspreyConfig.Agent {
        var settings = OspreyConfig.Agent()
        settings.tools = tools
        settings.maxReplyTokens = 100
        return settings
    }

    @Test func aTaskThatWouldOverspendFailsWithABudgetErrorAfterItsFirstCall() async throws {
        let store = try Store.inMemory()
        let provider = Self.expensiveModel()
        let runner = try ScriptedTaskRunner(store: store, provider: provider, settings: Self.settings())
        let supervisor = Supervisor(store: store) { task, resume in try await runner.run(task, resume: resume) }
        let task = try await TestRuns.running(supervisor) {
            let task = try await supervisor.submit(
                Tasks.Draft(title: "read", instructions: "Read notes.txt", maxTokens: 1200),
                actor: .test
            )
            try await TestRuns.waitUntil { try await store.tasks.get(task.id).isFinished }
            return try await store.tasks.get(task.id)
        }
        #expect(task.status == .failed)
        #expect(task.error?.contains("budget exceeded") == true)
        #expect(task.tokens == 1000 && task.maxTokens == 1200)
        #expect(provider.requests.count == 1)
        let refusals = try await store.ledger.events(limit: 1000).filter { $0.type == .budgetExceeded }
        #expect(refusals.map(\.task) == [task.id])
    }

    @Test func aSubTasksSpendingCountsAgainstItsParentAndTheParentsLimitStopsIt() async throws {
        let store = try Store.inMemory()
        let provider = Self.expensiveModel()
        let runner = try ScriptedTaskRunner(store: store, provider: provider, settings: Self.settings())
        // Given a parent with a limit and a child without one
        let parent = try await store.tasks.submit(
            Tasks.Draft(title: "parent", instructions: "delegate", maxTokens: 1200),
            actor: .test
        )
        let supervisor = Supervisor(store: store) { task, resume in
            // The parent only holds the limit: it waits (spending nothing) while its child runs.
            if task.id == parent.id { try await Task.sleep(for: .seconds(3600)) }
            return try await runner.run(task, resume: resume)
        }
        let child = try await TestRuns.running(supervisor) {
            let child = try await supervisor.submit(
                Tasks.Draft(title: "child", instructions: "Read notes.txt", parent: parent.id),
                actor: .agent("default")
            )
            try await TestRuns.waitUntil { try await store.tasks.get(child.id).isFinished }
            return try await store.tasks.get(child.id)
        }
        // Then the child's spending is the parent's too, and the parent's limit stopped the child
        #expect(child.status == .failed)
        #expect(child.error?.contains("ancestor task \(parent.id)") == true)
        #expect(child.tokens == 1000)
        #expect(try await store.tasks.get(parent.id).tokens == 1000)
        #expect(provider.requests.count == 1)
    }

    @Test(arguments: [
        (limit: 0, status: TaskStatus.completed, spent: 2000), (limit: 1200, status: TaskStatus.failed, spent: 1000),
    ])
    func aResumedTaskGoesOnFromWhatItHadSpent(limit: Int, status: TaskStatus, spent: Int) async throws {
        let store = try Store.inMemory()
        let provider = Self.expensiveModel(tool: "slow", arguments: "{}")
        let runner = try ScriptedTaskRunner(store: store, provider: provider, settings: Self.settings(tools: ["slow"]))
        // Given a task whose first attempt spent 1,000 tokens and was cut off in a slow tool (the gateway died)
        let task = try await store.tasks.submit(
            Tasks.Draft(title: "slow", instructions: "Go slow", maxTokens: limit),
            actor: .test
        )
        let started = try await store.tasks.start(task.id)
        let first = Task { try await runner.run(started, resume: false, extraTools: [SlowTool()]) }
        try await TestRuns.waitUntil {
            try await store.ledger.events(limit: 1000).contains { $0.type == .toolCallRequested }
        }
        first.cancel()
        _ = await first.result
        #expect(try await store.tasks.get(task.id).tokens == 1000)
        // When the next gateway resumes it
        let supervisor = Supervisor(store: store) { task, resume in
            try await runner.run(task, resume: resume, extraTools: [SlowTool()])
        }
        let resumed = try await TestRuns.running(supervisor) {
            try await supervisor.recover()
            try await TestRuns.waitUntil { try await store.tasks.get(task.id).isFinished }
            return try await store.tasks.get(task.id)
        }
        // Then what it had spent still counts: in its total and against its limit
        #expect(resumed.status == status)
        #expect(resumed.tokens == spent)
        #expect(resumed.attempts == 2)
    }

    @Test func aCompactionSummaryCallCountsAgainstTheRunsLimit() async throws {
        var settings = Self.settings()
        settings.contextTokens = 10
        settings.tokensPerRun = 900
        let provider = ScriptedProvider(replies: [
            ModelReply(
                message: .assistant("A summary."),
                usage: Usage(inputTokens: 900, outputTokens: 100),
                stopReason: .endTurn
            ),
            ModelReply(
                message: .assistant("Answer."),
                usage: Usage(inputTokens: 10, outputTokens: 5),
                stopReason: .endTurn
            ),
        ])
        let fixture = try await AgentFixture(provider: provider, settings: settings)
        for turn in 1...4 {
            try await fixture.store.sessions.append(.user("question \(turn)"), to: fixture.session.id, actor: .test)
            try await fixture.store.sessions.append(.assistant("answer \(turn)"), to: fixture.session.id, actor: .test)
        }
        // The summary call spends 1,000 tokens of the run's 900: the next call may not be made.
        await #expect(throws: AgentError.self) { try await fixture.run("and now?") }
        let types = try await fixture.eventTypes
        #expect(types.contains("session.compacted"))
        #expect(types.filter { $0 == "llm.call" }.count == 1)
        #expect(types.contains("budget.exceeded"))
        #expect(provider.requests.count == 1)
    }
}

/// The budget fields at every door that makes a task: the API, `submit_task`, schedules.
struct TaskBudgetFieldTests {
    @Test func theTasksAPITakesAndShowsABudgetAndRefusesABadOne() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            let created = try await client.execute(
                uri: "/api/tasks",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(#"{"title":"t","instructions":"x","max_tokens":5000,"max_cost_usd":0.25}"#)
            ) { ($0.status, $0.json) }
            #expect(created.0 == .created)
            #expect(created.1["max_tokens"] == 5000 && created.1["max_cost_usd"] == 0.25)
            let refused = try await client.execute(
                uri: "/api/tasks",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(#"{"title":"t","instructions":"x","max_tokens":-1}"#)
            ) { ($0.status, $0.errorCode) }
            #expect(refused.0 == .badRequest)
        }
    }

    @Test func aScheduleGivesEveryTaskItFiresItsBudget() async throws {
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        var request = Scheduler.Request(spec: "@daily", title: "tidy", instructions: "x")
        request.maxTokens = 3000
        request.maxCostUSD = 0.5
        let schedule = try await scheduler.add(request, actor: .test)
        #expect(schedule.maxTokens == 3000 && schedule.json["max_cost_usd"] == 0.5)
        let task = try #require(try await scheduler.fire(schedule.id))
        #expect(task.maxTokens == 3000 && task.maxCostUSD == 0.5)
    }

    @Test func submitTaskPassesItsBudgetOn() async throws {
        let store = try Store.inMemory()
        let directory = try TemporaryDirectory(prefix: "osprey-submit")
        var context = ToolContext(workspace: try Workspace(root: directory.url))
        context.toolNames = ["submit_task"]
        let result = try await Toolbox([SubmitTask(store: store)]).call(
            ToolCall(
                id: ToolCall.ID("c1"),
                name: "submit_task",
                arguments: #"{"title":"sub","instructions":"x","max_tokens":800,"max_cost_usd":0.1}"#
            ),
            context: context
        )
        #expect(!result.isError, "\(result.output)")
        let task = try #require(try await store.tasks.list().first)
        #expect(task.maxTokens == 800 && task.maxCostUSD == 0.1)
    }
}

struct TaskReservationTests {
    @Test func siblingsInFlightCannotOverspendTheirParentTogether() async throws {
        let store = try Store.inMemory()
        let meter = Meter(store: store) { _ in nil }
        let parent = try await store.tasks.submit(
            Tasks.Draft(title: "p", instructions: "x", maxTokens: 1000),
            actor: .test
        )
        let first = try await store.tasks.submit(
            Tasks.Draft(title: "a", instructions: "x", parent: parent.id),
            actor: .test
        )
        let second = try await store.tasks.submit(
            Tasks.Draft(title: "b", instructions: "x", parent: parent.id),
            actor: .test
        )
        func reserve(_ task: TaskRecord) async throws -> Meter.Reservation {
            try await meter.reserve(
                agent: "default",
                limits: OspreyConfig.Agent(),
                route: ModelRoute(provider: "scripted", model: "test"),
                estimatedInput: 300,
                maxOutput: 300,
                run: Meter.RunUsage(),
                session: task.session,
                task: task.id
            )
        }
        // Given one sub-task's call in flight holding 600 of the parent's 1,000 tokens
        let held = try await reserve(first)
        // Then its sibling's call of 600 is refused, until the first one settles
        await #expect(throws: AgentError.self) { try await reserve(second) }
        meter.release(held)
        meter.release(try await reserve(second))
    }
}
