import Foundation
import OspreyCore
import OspreyScheduler
import OspreyStore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

/// Counts how many runner calls overlap, per provider and overall, and the order they started in.
final class RunnerProbe: Sendable {
    private let state = Mutex<(now: [String: Int], peak: [String: Int], total: Int, peakTotal: Int, order: [String])>(
        ([:], [:], 0, 0, [])
    )

    func enter(_ provider: String, _ title: String) {
        state.withLock { state in
            state.now[provider, default: 0] += 1
            state.peak[provider] = max(state.peak[provider] ?? 0, state.now[provider]!)  // just set above
            state.total += 1
            state.peakTotal = max(state.peakTotal, state.total)
            state.order.append(title)
        }
    }

    func leave(_ provider: String) {
        state.withLock { state in
            state.now[provider, default: 0] -= 1
            state.total -= 1
        }
    }

    var peakTotal: Int { state.withLock { $0.peakTotal } }
    func peak(_ provider: String) -> Int { state.withLock { $0.peak[provider] ?? 0 } }
    var order: [String] { state.withLock { $0.order } }
}

struct SupervisorTests {
    /// The test clock the supervisor's tests advance: a wait for a sleeper that never comes (the code under test ended
    /// or never slept) fails after its limit instead of holding the suite.
    @Test func aWaitForSleepersThatNeverComeFailsAfterItsLimit() async throws {
        let clock = ManualClock()
        await #expect(throws: ManualClockError.self) { try await clock.waitForSleepers(1, timeout: .milliseconds(50)) }
        // A sleeper that is there ends the wait at once
        let sleeping = Task { try await clock.sleep(for: .seconds(1)) }
        try await clock.waitForSleepers(1, timeout: .seconds(30))
        clock.advance(by: .seconds(1))
        try await sleeping.value
    }

    @Test func theCapsHoldUnderAHundredSubmissions() async throws {
        let store = try Store.inMemory()
        let probe = RunnerProbe()
        let supervisor = Supervisor(
            store: store,
            limits: Supervisor.Limits(maxConcurrent: 4, perProvider: 3),
            provider: { $0.title.hasPrefix("a") ? "alpha" : "beta" },
            runner: { task, _ in
                let provider = task.title.hasPrefix("a") ? "alpha" : "beta"
                probe.enter(provider, task.title)
                try await Task.sleep(for: .milliseconds(5))
                probe.leave(provider)
                return TaskOutcome(result: "ok \(task.title)", tokens: 3)
            }
        )
        try await TestRuns.running(supervisor) {
            for index in 0..<100 {
                _ = try await supervisor.submit(
                    Tasks.Draft(title: (index.isMultiple(of: 2) ? "a" : "b") + "\(index)", instructions: "work"),
                    actor: .user("test")
                )
            }
            try await TestRuns.waitUntil { try await store.tasks.list(status: .completed, limit: 1000).count == 100 }
        }
        #expect(probe.peakTotal <= 4 && probe.peakTotal >= 2)
        #expect(probe.peak("alpha") <= 3 && probe.peak("beta") <= 3)
        let done = try await store.tasks.list(limit: 1000)
        #expect(done.allSatisfy { $0.status == .completed && $0.tokens == 3 && $0.attempts == 1 })
        let types = try await store.ledger.events(limit: 10_000).map(\.type.rawValue)
        #expect(types.filter { $0 == "task.completed" }.count == 100)
    }

    @Test func higherPriorityRunsFirstAndEqualPrioritiesInOrder() async throws {
        let store = try Store.inMemory()
        let probe = RunnerProbe()
        let gate = AsyncStream<Void>.makeStream()
        let supervisor = Supervisor(store: store, limits: Supervisor.Limits(maxConcurrent: 1)) { task, _ in
            probe.enter("p", task.title)
            if task.title == "blocker" { for await _ in gate.stream {} }
            probe.leave("p")
            return TaskOutcome(result: "ok")
        }
        try await TestRuns.running(supervisor) {
            _ = try await supervisor.submit(Tasks.Draft(title: "blocker", instructions: "x"), actor: .test)
            try await TestRuns.waitUntil { probe.order == ["blocker"] }
            for (title, priority) in [("low", 1), ("high", 9), ("mid-1", 5), ("mid-2", 5)] {
                _ = try await supervisor.submit(
                    Tasks.Draft(title: title, instructions: "x", priority: priority),
                    actor: .test
                )
            }
            // The supervisor hears of submissions from the ledger, after `submit` returns: all four must be
            // queued before the slot frees, or the test would race the event delivery.
            try await TestRuns.waitUntil { await supervisor.load.queued == 4 }
            gate.continuation.finish()
            try await TestRuns.waitUntil { probe.order.count == 5 }
        }
        #expect(probe.order == ["blocker", "high", "mid-1", "mid-2", "low"])
    }

    @Test func aPausedBudgetHoldsTheAgentsQueuedTasksUntilItIsResumed() async throws {
        let store = try Store.inMemory()
        let probe = RunnerProbe()
        let gate = AsyncStream<Void>.makeStream()
        let supervisor = Supervisor(store: store, limits: Supervisor.Limits(maxConcurrent: 1)) { task, _ in
            probe.enter("p", task.title)
            if task.title == "running" { for await _ in gate.stream {} }
            probe.leave("p")
            return TaskOutcome(result: "ok")
        }
        try await TestRuns.running(supervisor) {
            // One task runs; one waits behind the cap when the agent's budget runs out.
            _ = try await supervisor.submit(Tasks.Draft(title: "running", instructions: "x"), actor: .test)
            try await TestRuns.waitUntil { probe.order == ["running"] }
            let queued = try await supervisor.submit(Tasks.Draft(title: "queued", instructions: "x"), actor: .test)
            _ = try await store.budgets.pause("default", day: Budgets.day(), reason: "test")
            try await TestRuns.waitUntil { await supervisor.holding["default"] == 1 }
            // Another agent's work is not held; a task the paused agent is given later is.
            let other = try await supervisor.submit(
                Tasks.Draft(title: "other", instructions: "x", agent: "helper"),
                actor: .test
            )
            let later = try await supervisor.submit(Tasks.Draft(title: "later", instructions: "x"), actor: .test)
            try await TestRuns.waitUntil { await supervisor.holding["default"] == 2 }
            // The running task finishes; the free slot goes to the other agent, never to a held task.
            gate.continuation.finish()
            try await TestRuns.waitUntil { try await store.tasks.get(other.id).status == .completed }
            try await TestRuns.waitUntil { await supervisor.load.running == 0 }
            #expect(try await store.tasks.get(queued.id).status == .queued)
            #expect(try await store.tasks.get(later.id).status == .queued)
            // A resume (by an operator, or a new day) queues them again, in their order.
            _ = try await store.budgets.resume("default", actor: .test)
            try await TestRuns.waitUntil { try await store.tasks.get(later.id).status == .completed }
            #expect(await supervisor.holding.isEmpty)
        }
        #expect(probe.order == ["running", "other", "queued", "later"])
    }

    @Test func aTaskQueuedBeforeStartForAPausedAgentIsHeldFromTheStart() async throws {
        let store = try Store.inMemory()
        _ = try await store.budgets.pause("default", day: Budgets.day(), reason: "test")
        let waiting = try await store.tasks.submit(Tasks.Draft(title: "waiting", instructions: "x"), actor: .test)
        let supervisor = Supervisor(store: store) { _, _ in TaskOutcome(result: "ok") }
        try await TestRuns.running(supervisor) {
            try await TestRuns.waitUntil { await supervisor.holding["default"] == 1 }
            #expect(try await store.tasks.get(waiting.id).status == .queued)
            _ = try await store.budgets.resume("default", actor: .test)
            try await TestRuns.waitUntil { try await store.tasks.get(waiting.id).status == .completed }
        }
    }

    @Test func queuedAndRunningTasksCanBeCancelled() async throws {
        let store = try Store.inMemory()
        let supervisor = Supervisor(store: store, limits: Supervisor.Limits(maxConcurrent: 1)) { _, _ in
            try await Task.sleep(for: .seconds(30))
            return TaskOutcome(result: "never")
        }
        try await TestRuns.running(supervisor) {
            let first = try await supervisor.submit(Tasks.Draft(title: "long", instructions: "x"), actor: .test)
            let second = try await supervisor.submit(Tasks.Draft(title: "queued", instructions: "x"), actor: .test)
            try await TestRuns.waitUntil { try await store.tasks.get(first.id).status == .running }
            #expect(try await supervisor.cancel(second.id, actor: .user("test")).status == .cancelled)
            #expect(try await supervisor.cancel(first.id, actor: .user("test")).status == .cancelled)
            try await TestRuns.waitUntil { await supervisor.load.running == 0 }
            await #expect(throws: StoreError.conflict("task \(first.id.rawValue) is already cancelled")) {
                try await supervisor.cancel(first.id, actor: .user("test"))
            }
        }
        await #expect(throws: StoreError.notFound(kind: "task", id: "tsk_unknown")) {
            try await supervisor.cancel(TaskRecord.ID("tsk_unknown"), actor: .user("test"))
        }
    }

    @Test func afterACrashRunningTasksResumeAndQueuedOnesStart() async throws {
        let store = try Store.inMemory()
        // Given a task that was running when the process died, and one still queued,
        let interrupted = try await store.tasks.submit(
            Tasks.Draft(title: "interrupted", instructions: "x"),
            actor: .test
        )
        _ = try await store.tasks.start(interrupted.id)
        let queued = try await store.tasks.submit(Tasks.Draft(title: "queued", instructions: "x"), actor: .test)
        let resumed = Mutex<[String: Bool]>([:])
        let supervisor = Supervisor(store: store) { task, resume in
            resumed.withLock { $0[task.title] = resume }
            return TaskOutcome(result: "done")
        }
        // when a new supervisor recovers,
        try await TestRuns.running(supervisor) {
            #expect(try await supervisor.recover() == 2)
            try await TestRuns.waitUntil { try await store.tasks.list(status: .completed).count == 2 }
        }
        // then the running one resumed (a second attempt) and the queued one started fresh.
        #expect(resumed.withLock { $0 } == ["interrupted": true, "queued": false])
        #expect(try await store.tasks.get(interrupted.id).attempts == 2)
        #expect(try await store.tasks.get(queued.id).attempts == 1)
    }

    @Test func aRateLimitedProviderGetsNoNewTaskUntilItsBackOffEnds() async throws {
        let store = try Store.inMemory()
        let probe = RunnerProbe()
        let clock = ManualClock()
        let supervisor = Supervisor(
            store: store,
            limits: Supervisor.Limits(maxConcurrent: 1, rateLimitBackoff: .seconds(10)),
            clock: clock
        ) { task, _ in
            probe.enter("p", task.title)
            probe.leave("p")
            return TaskOutcome(result: "ok")
        }
        try await TestRuns.running(supervisor) {
            await supervisor.rateLimited(provider: "default")
            _ = try await supervisor.submit(Tasks.Draft(title: "waits", instructions: "x"), actor: .test)
            // Once its `task.created` is committed the task is queued and dispatch is decided at once: it stays
            // queued, nothing runs.
            try await TestRuns.waitUntil { await supervisor.load.queued == 1 }
            #expect(await supervisor.load.running == 0)
            clock.advance(by: .seconds(9))
            _ = try await supervisor.submit(Tasks.Draft(title: "still", instructions: "x"), actor: .test)
            try await TestRuns.waitUntil { await supervisor.load.queued == 2 }
            #expect(await supervisor.load.running == 0)
            // A later submission (or finished job) re-dispatches once the back-off has passed.
            clock.advance(by: .seconds(1))
            _ = try await supervisor.submit(Tasks.Draft(title: "then", instructions: "x"), actor: .test)
            try await TestRuns.waitUntil { probe.order.count == 3 }
        }
        #expect(probe.order == ["waits", "still", "then"])
    }

    @Test(arguments: [
        (
            Tasks.Draft(title: "t", instructions: "x", priority: 10),
            "priority must be an integer in 0...9 (9 runs first)"
        ),
        (Tasks.Draft(title: "", instructions: "x"), "title must be 1-200 characters"),
        (Tasks.Draft(title: "t", instructions: "  "), "instructions must be 1 byte to 64 KiB"),
        (
            Tasks.Draft(title: "t", instructions: "x", agent: "bad agent!"),
            "agent must be 1-64 letters, digits, '_', '-' or '.'"
        ),
    ])
    func badSubmissionsAreClearErrorsAndStoreNothing(draft: Tasks.Draft, message: String) async throws {
        let store = try Store.inMemory()
        await #expect(throws: StoreError.invalid(message)) { try await store.tasks.submit(draft, actor: .test) }
        #expect(try await store.tasks.list().isEmpty)
        #expect(try await store.ledger.events().isEmpty)
    }

    @Test func delegationIsLimitedInDepthAndNeedsAKnownParent() async throws {
        let store = try Store.inMemory()
        var parent = try await store.tasks.submit(Tasks.Draft(title: "root", instructions: "x"), actor: .test)
        for level in 1...3 {
            parent = try await store.tasks.submit(
                Tasks.Draft(title: "level \(level)", instructions: "x", parent: parent.id),
                actor: .test
            )
            #expect(parent.depth == level)
        }
        await #expect(throws: StoreError.invalid("delegation depth 4 exceeds the limit of 3")) {
            try await store.tasks.submit(
                Tasks.Draft(title: "too deep", instructions: "x", parent: parent.id),
                actor: .test
            )
        }
        await #expect(throws: StoreError.notFound(kind: "task", id: "tsk_nope")) {
            try await store.tasks.submit(
                Tasks.Draft(title: "orphan", instructions: "x", parent: TaskRecord.ID("tsk_nope")),
                actor: .test
            )
        }
    }
}

struct SchedulerTests {
    @Test(arguments: [
        ("61 * * * *", "minute"), ("*/0 * * * *", "step"), ("0 0 30 2 *", "never"), ("@every 0s", "every"),
        ("* * *", "5 fields"),
    ])
    func invalidSpecsAreRefusedAndNothingIsScheduled(spec: String, fragment: String) async throws {
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        do {
            _ = try await scheduler.add(Scheduler.Request(spec: spec, title: "t", instructions: "x"), actor: .test)
            Issue.record("\(spec) was accepted")
        } catch is ScheduleRequestError {
        }
        #expect(try await store.schedules.list().isEmpty)
        #expect(try await store.ledger.events().isEmpty)
    }

    /// A tick that comes while the task of the schedule's last firing is still queued or running submits none: a
    /// slow or stalled agent no longer piles up one task a tick. The tick is claimed and recorded, and the schedule
    /// fires again once its task has ended; a firing by hand still submits one.
    @Test func aTickWhileTheLastTaskIsOpenIsSkipped() async throws {
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        let now = try instant("2026-12-02T10:00:30Z")
        let schedule = try await scheduler.add(
            Scheduler.Request(spec: "@every 1m", title: "often", instructions: "x"),
            actor: .test,
            now: now
        )
        #expect(try await scheduler.tick(now: now.addingTimeInterval(61)) == 1)
        let first = try #require(try await store.tasks.list().first)
        // Its task still queued, the next two ticks submit nothing and say why
        #expect(try await scheduler.tick(now: now.addingTimeInterval(121)) == 0)
        _ = try await store.tasks.start(first.id)
        #expect(try await scheduler.tick(now: now.addingTimeInterval(181)) == 0)
        #expect(try await store.tasks.list().count == 1)
        let skipped = try await store.ledger.events(filter: EventFilter(type: "schedule.skipped"))
        #expect(skipped.count == 2)
        #expect(skipped.allSatisfy { $0.payload["open_task"] == .string(first.id.rawValue) })
        #expect(try await store.schedules.get(schedule.id).nextFireAt == now.addingTimeInterval(240))
        // Fired by hand meanwhile, it submits one
        #expect(try await scheduler.fire(schedule.id, now: now.addingTimeInterval(182)) != nil)
        // Once its tasks have ended, the next tick fires again
        for task in try await store.tasks.list() {
            _ = try await store.tasks.cancel(task.id, actor: .test)
        }
        #expect(try await scheduler.tick(now: now.addingTimeInterval(241)) == 1)
        #expect(try await store.tasks.list().count == 3)
    }

    @Test func unknownAgentsZonesAndPoliciesAreRefused() async throws {
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        for request in [
            Scheduler.Request(spec: "@daily", agent: "ghost", title: "t", instructions: "x"),
            Scheduler.Request(spec: "@daily", timezone: "Mars/Olympus", title: "t", instructions: "x"),
            Scheduler.Request(spec: "@daily", missed: "sometimes", title: "t", instructions: "x"),
            Scheduler.Request(spec: "@daily", title: "t", instructions: "x", priority: 11),
            Scheduler.Request(title: "t", instructions: "x"),
        ] {
            await #expect(throws: ScheduleRequestError.self) { try await scheduler.add(request, actor: .test) }
        }
        #expect(try await store.schedules.list().isEmpty)
    }

    @Test func aDueScheduleFiresOnceAndMovesToItsNextTime() async throws {
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        let now = try instant("2026-12-02T10:00:30Z")
        let schedule = try await scheduler.add(
            Scheduler.Request(spec: "*/5 * * * *", title: "tidy", instructions: "x"),
            actor: .test,
            now: now
        )
        #expect(schedule.nextFireAt == (try instant("2026-12-02T10:05:00Z")))
        #expect(try await scheduler.tick(now: try instant("2026-12-02T10:04:59Z")) == 0)
        #expect(try await scheduler.tick(now: try instant("2026-12-02T10:05:01Z")) == 1)
        #expect(try await scheduler.tick(now: try instant("2026-12-02T10:05:02Z")) == 0)
        #expect(try await store.schedules.get(schedule.id).nextFireAt == (try instant("2026-12-02T10:10:00Z")))
        let tasks = try await store.tasks.list()
        #expect(tasks.map(\.schedule) == [schedule.id])
        #expect(try await store.ledger.events().map(\.type.rawValue).contains("schedule.fired"))
    }

    @Test(arguments: [("skip", 0), ("run_once", 1)])
    func afterDowntimeTheMissedRunPolicyDecides(policy: String, runs: Int) async throws {
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        _ = try await scheduler.add(
            Scheduler.Request(spec: "@hourly", missed: policy, title: "report", instructions: "x"),
            actor: .test,
            now: try instant("2026-12-02T10:30:00Z")
        )
        // The gateway was down from 10:30 to 14:10: four runs were missed.
        try await scheduler.catchUp(now: try instant("2026-12-02T14:10:00Z"))
        #expect(try await store.tasks.list().count == runs)
        #expect(try await store.schedules.list().first?.nextFireAt == (try instant("2026-12-02T15:00:00Z")))
    }

    @Test func anEventTriggerHonoursItsFilterAndCooldownAndNeverFiresOnItsOwnTask() async throws {
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        _ = try await scheduler.add(
            Scheduler.Request(
                triggerEvent: "tool.call.*",
                triggerFilter: ["tool": "run_command"],
                cooldownSeconds: 60,
                title: "review",
                instructions: "look at the command"
            ),
            actor: .test
        )
        let start = try instant("2026-12-02T10:00:00Z")
        func event(_ type: Event.Kind, tool: String, task: TaskRecord.ID? = nil) async throws -> Event {
            try await store.ledger.append(EventDraft(type: type, task: task, payload: ["tool": .string(tool)]))
        }
        #expect(
            try await scheduler.observe(try await event(.toolCallCompleted, tool: "read_file"), now: start).isEmpty
        )
        let fired = try await scheduler.observe(try await event(.toolCallCompleted, tool: "run_command"), now: start)
        #expect(fired.count == 1)
        // Within the cooldown nothing fires; a task's own events never fire its schedule.
        let soon = start.addingTimeInterval(30)
        #expect(
            try await scheduler.observe(try await event(.toolCallFailed, tool: "run_command"), now: soon).isEmpty
        )
        let later = start.addingTimeInterval(120)
        let own = try await event(.toolCallCompleted, tool: "run_command", task: fired[0].id)
        #expect(try await scheduler.observe(own, now: later).isEmpty)
        #expect(
            try await scheduler.observe(try await event(.toolCallCompleted, tool: "run_command"), now: later).count
                == 1
        )
    }
}

struct RoutineTests {
    static func routine(_ store: Store, directory: TemporaryDirectory) throws -> (Scheduler, Workspace) {
        let workspace = try Workspace(root: directory.url)
        let context = ToolContext(workspace: workspace, commandTimeout: .seconds(10))
        return (Scheduler(store: store, routineContext: context) { _ in true }, workspace)
    }

    @Test func aHeartbeatWithUnchangedChecksCallsNoModelOverAHundredTicks() async throws {
        let store = try Store.inMemory()
        let directory = try TemporaryDirectory(prefix: "osprey-routine")
        defer { directory.remove() }
        let (scheduler, workspace) = try Self.routine(store, directory: directory)
        try "v1".write(to: workspace.root.appendingPathComponent("status.txt"), atomically: true, encoding: .utf8)
        var request = Scheduler.Request(spec: "* * * * *", title: "watch", instructions: "Investigate the change.")
        request.checks = [
            ["kind": "file", "path": "status.txt"], ["kind": "command", "command": "test -f status.txt"],
            ["kind": "disk", "min_free_bytes": 1], ["kind": "memory", "min_available_bytes": 1],
        ]
        var now = try instant("2026-12-02T10:00:30Z")
        let schedule = try await scheduler.add(request, actor: .test, now: now)
        for _ in 0..<100 {
            now = now.addingTimeInterval(60)
            #expect(try await scheduler.tick(now: now) == 1)
        }
        #expect(try await store.tasks.list().isEmpty)
        let events = try await store.ledger.events(limit: 10_000)
        #expect(events.filter { $0.type == .heartbeatTick }.count == 100)
        #expect(!events.contains { $0.type == .llmCall || $0.type == .taskCreated })
        #expect(events.filter { $0.type == .heartbeatTick }.allSatisfy { $0.payload["tokens"] == 0 })
        // When the file changes, the next beat alerts and hands the change to an agent.
        try "v2".write(to: workspace.root.appendingPathComponent("status.txt"), atomically: true, encoding: .utf8)
        let task = try #require(try await scheduler.fire(schedule.id, now: now.addingTimeInterval(60)))
        #expect(task.instructions.contains("What changed:"))
        #expect(try await store.ledger.events(filter: EventFilter(type: "watcher.alert")).count == 1)
    }

    @Test func aRemediationThatFixesTheChangeKeepsTheAgentAsleep() async throws {
        let store = try Store.inMemory()
        let directory = try TemporaryDirectory(prefix: "osprey-routine")
        defer { directory.remove() }
        let (scheduler, workspace) = try Self.routine(store, directory: directory)
        let flag = workspace.root.appendingPathComponent("service.up")
        try "".write(to: flag, atomically: true, encoding: .utf8)
        var request = Scheduler.Request(spec: "@hourly", title: "keep it up", instructions: "Fix the service.")
        request.checks = [["kind": "command", "command": "test -f service.up"]]
        request.remediation = "touch service.up"
        let schedule = try await scheduler.add(request, actor: .test)
        #expect(try await scheduler.fire(schedule.id) == nil)  // baseline
        try FileManager.default.removeItem(at: flag)
        // Notify, remediate, look again: fixed, so no agent.
        #expect(try await scheduler.fire(schedule.id) == nil)
        #expect(FileManager.default.fileExists(atPath: flag.path))
        let types = try await store.ledger.events(limit: 1000).map(\.type.rawValue)
        #expect(types.contains("watcher.alert") && types.contains("watcher.remediated"))
        #expect(try await store.tasks.list().isEmpty)
    }

    @Test func badChecksAndBlacklistedRemediationsAreRefused() async throws {
        let store = try Store.inMemory()
        let directory = try TemporaryDirectory(prefix: "osprey-routine")
        defer { directory.remove() }
        let (scheduler, _) = try Self.routine(store, directory: directory)
        var unknown = Scheduler.Request(spec: "@hourly", title: "t", instructions: "x")
        unknown.checks = [["kind": "weather"]]
        await #expect(throws: ScheduleRequestError("unknown check kind 'weather' (file, command, disk, memory)")) {
            try await scheduler.add(unknown, actor: .test)
        }
        var hostile = Scheduler.Request(spec: "@hourly", title: "t", instructions: "x")
        hostile.checks = [["kind": "disk", "min_free_bytes": 1]]
        hostile.remediation = "rm -rf /"
        await #expect(throws: ScheduleRequestError("remediation refused by policy: rm -r / is not allowed")) {
            try await scheduler.add(hostile, actor: .test)
        }
        #expect(try await store.schedules.list().isEmpty)
    }
}
