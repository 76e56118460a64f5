import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyMemory
import OspreyScheduler
import OspreyStore
import OspreyTesting
import Synchronization
import Testing

/// Several gateways' schedulers on one PostgreSQL database: each firing happens once, whoever claims it.
struct PostgresSchedulingTests {
    /// Every scheduler ticks at `now` at once; the number of firings each claimed.
    static func tickTogether(_ schedulers: [Scheduler], now: Date) async throws -> [Int] {
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for (index, scheduler) in schedulers.enumerated() {
                group.addTask { (index, try await scheduler.tick(now: now)) }
            }
            var fired = Array(repeating: 0, count: schedulers.count)
            for try await (index, count) in group { fired[index] = count }
            return fired
        }
    }

    /// Every scheduler hears `event` at once; how many tasks each submitted.
    static func observeTogether(_ schedulers: [Scheduler], _ event: Event, now: Date) async throws -> [Int] {
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for (index, scheduler) in schedulers.enumerated() {
                group.addTask { (index, try await scheduler.observe(event, now: now).count) }
            }
            var submitted = Array(repeating: 0, count: schedulers.count)
            for try await (index, count) in group { submitted[index] = count }
            return submitted
        }
    }

    static func tasks(of schedule: ScheduleRecord.ID, in store: Store) async throws -> [TaskRecord] {
        try await store.tasks.list(limit: 500).filter { $0.schedule == schedule }
    }

    @Test func aScheduleFiresOncePerTickAcrossThreeGatewaysAndGoesOnWhenOneIsGone() async throws {
        try await PostgresGatewayTests.withNodes(3) { stores in
            let schedulers = stores.map { Scheduler(store: $0, agentExists: { _ in true }) }
            let start = Date()
            let schedule = try await schedulers[0].add(
                Schedules.Draft(spec: "@every 1h", title: "hourly", instructions: "report"),
                actor: .user("test"),
                now: start
            )
            var ticks = 0
            for round in 0..<6 {
                // Node a goes away after three ticks: its connections close, as a killed gateway's would
                if round == 3 { stores[0].close() }
                let alive = round < 3 ? schedulers : Array(schedulers.dropFirst())
                let due = try #require(try await stores[1].schedules.get(schedule.id).nextFireAt)
                let fired = try await Self.tickTogether(alive, now: due.addingTimeInterval(1))
                #expect(fired.reduce(0, +) == 1, "round \(round): \(fired)")
                ticks += 1
                // And a tick that comes again at the same time fires nothing
                #expect(try await Self.tickTogether(alive, now: due.addingTimeInterval(1)).reduce(0, +) == 0)
                // (the round's task ends, or the next tick would be skipped while it is queued)
                for task in try await Self.tasks(of: schedule.id, in: stores[1]) where !task.status.isFinished {
                    _ = try await stores[1].tasks.cancel(task.id, actor: .user("test"))
                }
            }
            let fired = try await Self.tasks(of: schedule.id, in: stores[1])
            #expect(fired.count == ticks)
            let events = try await stores[1].ledger.events(
                after: 0,
                filter: EventFilter(type: "schedule.fired"),
                limit: 100
            )
            #expect(events.count == ticks)
            #expect(try await stores[2].ledger.verify().ok)
        }
    }

    @Test func anEventTriggerFiresOncePerEventAcrossGatewaysAndNotForItsOwnTasks() async throws {
        try await PostgresGatewayTests.withNodes(3) { stores in
            let schedulers = stores.map { Scheduler(store: $0, agentExists: { _ in true }) }
            let trigger = try await schedulers[0].add(
                Schedules.Draft(triggerEvent: "test.*", cooldownSeconds: 0, title: "react", instructions: "look"),
                actor: .user("test")
            )
            // The other gateways learn of the new schedule through the feed; until then they match nothing
            try await TestRuns.waitUntil {
                for store in stores where try await store.schedules.triggers().isEmpty { return false }
                return true
            }
            let now = Date()
            for n in 0..<5 {
                let event = try await stores[n % 3].ledger.append(EventDraft(type: Event.Kind(rawValue: "test.e\(n)")))
                let submitted = try await Self.observeTogether(schedulers, event, now: now)
                #expect(submitted.reduce(0, +) == 1, "event \(n): \(submitted)")
                // Heard again (a feed catching up after a reconnection): not fired twice
                #expect(try await Self.observeTogether(schedulers, event, now: now).reduce(0, +) == 0)
            }
            let fired = try await Self.tasks(of: trigger.id, in: stores[0])
            #expect(fired.count == 5)
            // A task the trigger submitted does not fire it again by its own events, on any gateway
            let own = try await stores[1].ledger.append(
                EventDraft(type: Event.Kind(rawValue: "test.own"), task: fired[0].id)
            )
            #expect(try await Self.observeTogether(schedulers, own, now: now).reduce(0, +) == 0)
            // A cooldown holds across gateways too: one firing within it, whichever gateway heard which event
            let cooled = try await schedulers[0].add(
                Schedules.Draft(
                    triggerEvent: "cool.*",
                    cooldownSeconds: 3600,
                    title: "once an hour",
                    instructions: "x"
                ),
                actor: .user("test")
            )
            try await TestRuns.waitUntil {
                for store in stores where try await store.schedules.triggers().count < 2 { return false }
                return true
            }
            var submitted = 0
            for n in 0..<3 {
                let event = try await stores[n].ledger.append(EventDraft(type: Event.Kind(rawValue: "cool.e\(n)")))
                submitted += try await Self.observeTogether(schedulers, event, now: now).reduce(0, +)
            }
            #expect(submitted == 1)
            #expect(try await Self.tasks(of: cooled.id, in: stores[2]).count == 1)
        }
    }
}

/// Several gateways' supervisors on one PostgreSQL database: every task runs once, wherever it was submitted.
struct PostgresSupervisionTests {
    @Test(.timeLimit(.minutes(3)))
    func threeGatewaysCompleteAThousandTasksEachExactlyOnce() async throws {
        try await PostgresGatewayTests.withNodes(3) { stores in
            // Each run is counted by task and by the gateway that ran it
            let runs = Mutex<[TaskRecord.ID: [String]]>([:])
            let supervisors = stores.map { store in
                Supervisor(store: store, limits: Supervisor.Limits(maxConcurrent: 8, perProvider: 8)) { task, _ in
                    runs.withLock { $0[task.id, default: []].append(store.tasks.node) }
                    return TaskOutcome(result: "ok \(task.title)")
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for supervisor in supervisors { group.addTask { await supervisor.run() } }
                defer { group.cancelAll() }
                // A thousand tasks, submitted through the three gateways in turn, twenty at a time
                var submitted: [TaskRecord.ID] = []
                for batch in 0..<50 {
                    let ids = try await withThrowingTaskGroup(of: TaskRecord.ID.self) { submit in
                        for n in 0..<20 {
                            let store = stores[(batch * 20 + n) % 3]
                            submit.addTask {
                                try await store.tasks.submit(
                                    Tasks.Draft(title: "t\(batch * 20 + n)", instructions: "x"),
                                    actor: .user("test")
                                ).id
                            }
                        }
                        return try await submit.reduce(into: []) { $0.append($1) }
                    }
                    submitted += ids
                }
                try await TestRuns.waitUntil(timeout: .seconds(120)) {
                    try await stores[0].tasks.counts()[.completed, default: 0] == 1000
                }
                let counted = runs.withLock { $0 }
                #expect(counted.count == 1000)
                #expect(counted.values.allSatisfy { $0.count == 1 })
                #expect(Set(counted.keys) == Set(submitted))
                // Every gateway took a share, and each task started once
                let byNode = Dictionary(grouping: counted.values.map { $0[0] }, by: { $0 }).mapValues(\.count)
                #expect(byNode.keys.sorted() == ["a", "b", "c"], "\(byNode)")
                let started = try await stores[1].ledger.events(
                    after: 0,
                    filter: EventFilter(type: "task.started"),
                    limit: 5000
                )
                #expect(started.count == 1000)
                #expect(try await stores[2].ledger.verify().ok)
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theConcurrencyCapHoldsAcrossGateways() async throws {
        try await PostgresGatewayTests.withNodes(3) { stores in
            // How many runs are under way on all three gateways together, and the most at once
            let load = Mutex((now: 0, most: 0, done: 0))
            let supervisors = stores.map { store in
                Supervisor(store: store, limits: Supervisor.Limits(maxConcurrent: 2, perProvider: 2)) { task, _ in
                    load.withLock {
                        $0.now += 1
                        $0.most = max($0.most, $0.now)
                    }
                    try await Task.sleep(for: .milliseconds(50))  // the run's work
                    load.withLock {
                        $0.now -= 1
                        $0.done += 1
                    }
                    return TaskOutcome(result: "ok")
                }
            }
            // Queued before the gateways start: each finds all thirty at once and would start two
            for n in 0..<30 {
                _ = try await stores[n % 3].tasks.submit(
                    Tasks.Draft(title: "t\(n)", instructions: "x"),
                    actor: .user("test")
                )
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for supervisor in supervisors { group.addTask { await supervisor.run() } }
                defer { group.cancelAll() }
                try await TestRuns.waitUntil(timeout: .seconds(60)) {
                    try await stores[0].tasks.counts()[.completed, default: 0] == 30
                }
                // Each gateway alone would have run 2, 6 together: the cap of 2 held for the cluster
                let seen = load.withLock { $0 }
                #expect(seen.done == 30)
                #expect(seen.most <= 2, "\(seen)")
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func thePerProviderCapHoldsAcrossGateways() async throws {
        try await PostgresGatewayTests.withNodes(3) { stores in
            // Runs under way on all three gateways together, by provider, and the most of each at once
            let load = Mutex((now: [String: Int](), most: [String: Int](), done: 0))
            let supervisors = stores.map { store in
                Supervisor(
                    store: store,
                    limits: Supervisor.Limits(maxConcurrent: 10, perProvider: 1),
                    provider: { $0.title.hasPrefix("a") ? "alpha" : "beta" }
                ) { task, _ in
                    let provider = task.title.hasPrefix("a") ? "alpha" : "beta"
                    load.withLock {
                        $0.now[provider, default: 0] += 1
                        $0.most[provider] = max($0.most[provider, default: 0], $0.now[provider, default: 0])
                    }
                    try await Task.sleep(for: .milliseconds(50))  // the run's work
                    load.withLock {
                        $0.now[provider, default: 0] -= 1
                        $0.done += 1
                    }
                    return TaskOutcome(result: "ok")
                }
            }
            for n in 0..<12 {
                let title = (n % 2 == 0 ? "a" : "b") + "\(n)"
                _ = try await stores[n % 3].tasks.submit(
                    Tasks.Draft(title: title, instructions: "x"),
                    actor: .user("test")
                )
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for supervisor in supervisors { group.addTask { await supervisor.run() } }
                defer { group.cancelAll() }
                try await TestRuns.waitUntil(timeout: .seconds(60)) {
                    try await stores[0].tasks.counts()[.completed, default: 0] == 12
                }
                // Each gateway alone would have run one of each provider, three together: one held for the cluster
                let seen = load.withLock { $0 }
                #expect(seen.done == 12)
                #expect(seen.most == ["alpha": 1, "beta": 1], "\(seen)")
            }
        }
    }
}

/// A model that counts how many of its answers are under way at once (over every gateway that shares it).
final class OverlapCountingProvider: ModelProvider, Sendable {
    private let load = Mutex((now: 0, most: 0, calls: 0))

    var most: Int { load.withLock { $0.most } }
    var calls: Int { load.withLock { $0.calls } }

    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        load.withLock {
            $0.now += 1
            $0.calls += 1
            $0.most = max($0.most, $0.now)
        }
        defer { load.withLock { $0.now -= 1 } }
        try await Task.sleep(for: .milliseconds(30))  // the model thinking
        return ModelReply(message: .assistant("ok"), usage: Usage(), stopReason: .endTurn)
    }
}

/// A model whose first answer waits until the test opens the gate; the others answer at once.
final class GatedProvider: ModelProvider, Sendable {
    private let state = Mutex<(calls: Int, open: Bool, waiter: CheckedContinuation<Void, Never>?)>((0, false, nil))

    var calls: Int { state.withLock { $0.calls } }

    func open() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.open = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        let first = state.withLock { state -> Bool in
            state.calls += 1
            return state.calls == 1 && !state.open
        }
        if first {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
        return ModelReply(message: .assistant("ok"), usage: Usage(), stopReason: .endTurn)
    }
}

/// Several gateways' runs of one session: one at a time, wherever the messages arrive.
struct PostgresSessionLaneTests {
    @Test(.timeLimit(.minutes(3)))
    func aSessionsWaitingMessagesRunInTheOrderTheyArrivedAcrossGateways() async throws {
        try await PostgresGatewayTests.withNodes(2) { stores in
            let provider = GatedProvider()
            let a = try await TestGateway(provider: provider, store: stores[0])
            let b = try await TestGateway(provider: provider, store: stores[1])
            let session = try await stores[0].sessions.create(actor: .test)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // A run under way on a (its model waits for the gate)
                group.addTask { _ = try await Self.send(a, session.id, "first") }
                try await TestRuns.waitUntil { provider.calls == 1 }
                // Then a message through b, which waits for the lane in PostgreSQL's queue
                group.addTask { _ = try await Self.send(b, session.id, "second") }
                try await TestRuns.waitUntil {
                    try await stores[0].read { db in
                        try db.value(
                            Int.self,
                            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                        )
                    } == 1
                }
                // Then one more through a, which waits behind the first in a's own lane
                group.addTask { _ = try await Self.send(a, session.id, "third") }
                try await Task.sleep(for: .milliseconds(200))  // the third reaches a's lane before the first ends
                provider.open()
                try await group.waitForAll()
            }
            // They ran in the order they arrived, though the third was waiting on the gateway that let go
            let asked = try await stores[0].sessions.messages(of: session.id).map(\.message).filter { $0.role == .user }
            #expect(asked.map(\.text) == ["first", "second", "third"])
        }
    }

    /// Sends `content` to the session through `gateway`; the response's status, and its body unless it is 200.
    static func send(_ gateway: TestGateway, _ session: Session.ID, _ content: String) async throws -> String {
        try await gateway.app().test(.router) { client in
            let response = try await client.post("/api/sessions/\(session)/messages", #"{"content":"\#(content)"}"#)
            return response.status == .ok ? "ok" : "\(response.status) \(response.json)"
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aSessionsMessagesRunOneAtATimeAcrossGateways() async throws {
        try await PostgresGatewayTests.withNodes(2) { stores in
            let provider = OverlapCountingProvider()
            let a = try await TestGateway(provider: provider, store: stores[0])
            let b = try await TestGateway(provider: provider, store: stores[1])
            let session = try await stores[0].sessions.create(actor: .test)
            let other = try await stores[0].sessions.create(actor: .test)
            // Three messages through each gateway at once, and one to another session
            let statuses = try await withThrowingTaskGroup(of: String.self) { group in
                for n in 0..<6 {
                    let gateway = n % 2 == 0 ? a : b
                    group.addTask { try await Self.send(gateway, session.id, "m\(n)") }
                }
                group.addTask { try await Self.send(b, other.id, "elsewhere") }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == "ok" }, "\(statuses)")
            #expect(provider.calls == 7)
            // The session's runs never overlapped: each message is followed by its own answer
            let transcript = try await stores[1].sessions.messages(of: session.id).map(\.message)
            #expect(transcript.count == 12)
            #expect(transcript.enumerated().allSatisfy { $0.element.role == ($0.offset % 2 == 0 ? .user : .assistant) })
            #expect(Set(transcript.filter { $0.role == .user }.map(\.text)) == Set((0..<6).map { "m\($0)" }))
        }
    }
}

/// What a client of one gateway sees of what the others commit.
struct PostgresEventStreamTests {
    @Test(.timeLimit(.minutes(3)))
    func anSSEClientOfOneGatewaySeesEveryGatewaysEventsInOrderOnceAndResumes() async throws {
        try await PostgresGatewayTests.withNodes(2) { stores in
            let a = try await TestGateway(store: stores[0])
            var seqs: [Int] = []
            for n in 1...5 {
                seqs.append(
                    try await stores[1].ledger.append(
                        EventDraft(type: Event.Kind(rawValue: "test.before"), payload: ["n": .int(n)])
                    ).seq
                )
            }
            let written = seqs
            try await a.app().test(.live) { client in
                let port = try #require(client.port)
                // A client of gateway a that saw the first two events reconnects with their last id
                async let resumed = LiveGatewayTests.readEvents(
                    port: port,
                    count: 13,
                    lastEventID: written[1],
                    query: "?type=test.*"
                )
                // while both gateways write more
                for n in 1...10 {
                    try await stores[n % 2].ledger.append(
                        EventDraft(type: Event.Kind(rawValue: "test.after"), payload: ["n": .int(n)])
                    )
                }
                // It gets the other three, then all ten, each once, in seq order, with id = seq
                let events = try await resumed
                let ids = events.compactMap { $0.id.flatMap(Int.init) }
                #expect(ids.count == 13)
                #expect(ids == ids.sorted() && Set(ids).count == ids.count)
                #expect(Array(ids.prefix(3)) == Array(written.suffix(3)))
                #expect(
                    events.map(\.event) == Array(repeating: "test.before", count: 3)
                        + Array(repeating: "test.after", count: 10)
                )
                let numbers = try events.suffix(10).map { try JSONValue.parse($0.data)["payload"]?["n"]?.intValue }
                #expect(numbers == (1...10).map { $0 })
            }
        }
    }
}

/// A run on one gateway, cancelled through another.
struct PostgresCancelTests {
    @Test(.timeLimit(.minutes(3)))
    func aRunOnOneGatewayIsCancelledThroughAnother() async throws {
        try await PostgresGatewayTests.withNodes(2) { stores in
            let a = try await TestGateway(provider: SlowProvider(), store: stores[0])
            let b = try await TestGateway(provider: SlowProvider(), store: stores[1])
            let session = try await stores[0].sessions.create(actor: .test)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for gateway in [a, b] { group.addTask { await gateway.kernel.followCancelRequests() } }
                defer { group.cancelAll() }
                // Given a run under way on a (its model takes 30 s)
                group.addTask {
                    let status = try await a.app().test(.router) { client in
                        try await client.post("/api/sessions/\(session.id)/messages", #"{"content":"think"}"#).errorCode
                    }
                    #expect(status == "cancelled")
                }
                // (b's probe takes the lane when it is free, and gives it back at once)
                let lanes = try #require(stores[1].lanes)
                try await TestRuns.waitUntil {
                    guard try await lanes.tryAcquire(session.id) else { return true }
                    lanes.release(session.id)
                    return false
                }
                // A gateway starting meanwhile takes the run (its question stored, no answer yet) for one under way
                // elsewhere, not one its own stop cut
                try await TestRuns.waitUntil { try await !stores[1].sessions.messages(of: session.id).isEmpty }
                let before = try await stores[1].sessions.messages(of: session.id).count
                #expect(try await Agent.closeInterruptedRuns(in: stores[1]) == 0)
                #expect(try await stores[1].sessions.messages(of: session.id).count == before)
                // When a client asks b to cancel it, b asks a through the ledger and answers when a has stopped it
                try await b.app().test(.router) { client in
                    let cancelled = try await client.post("/api/sessions/\(session.id)/cancel")
                    #expect(cancelled.status == .accepted, "\(cancelled.json)")
                    // And a session with no run anywhere is said to have none
                    let none = try await client.post("/api/sessions/\(session.id)/cancel")
                    #expect(none.status == .notFound)
                }
                let events = try await stores[1].ledger.events(after: 0, limit: 100).map(\.type.rawValue)
                #expect(events.contains("run.cancel.requested") && events.contains("run.cancelled"))
            }
        }
    }
}

/// Memories on a database several gateways share: each gateway's Markdown folder is its copy of the database's.
struct PostgresMemoryTests {
    @Test func aMemoryStoredThroughOneGatewayReachesAnotherAndForgettingItReachesItToo() async throws {
        try await PostgresGatewayTests.withNodes(2) { stores in
            let folders = [try TemporaryDirectory(), try TemporaryDirectory()]
            defer { for folder in folders { folder.remove() } }
            let a = try MemoryBank(directory: folders[0].url, store: stores[0], embedder: HashingEmbedder())
            let b = try MemoryBank(directory: folders[1].url, store: stores[1], embedder: HashingEmbedder())
            let record = try await a.store(
                "Ospreys dive feet first for fish.",
                source: .user,
                provenance: "test",
                trust: .trusted,
                actor: .test
            )
            try await a.embedPending()
            // b's upkeep writes the file it lacks instead of dropping the row, and finds the memory, by its words and
            // by the vector a made (b makes none of its own)
            let first = try await b.reindex()
            #expect(try await b.rankings("Ospreys dive feet first for fish.", depth: 5).vector == [record.id])
            #expect(first.fromCluster == 1 && first.removed == 0)
            #expect(
                FileManager.default.fileExists(atPath: folders[1].url.appendingPathComponent(record.id + ".md").path)
            )
            #expect(try await b.search("diving osprey", limit: 5).map(\.record.id) == [record.id])
            #expect(try await a.reindex().removed == 0)
            #expect(try await b.reindex().fromCluster == 0)  // nothing new the second time
            // Forgotten through a: b's copy goes at its next upkeep, and is not indexed again from b's file
            try await a.forget(record.id, actor: .test)
            #expect(try await b.reindex().fromCluster == 1)
            #expect(
                !FileManager.default.fileExists(atPath: folders[1].url.appendingPathComponent(record.id + ".md").path)
            )
            #expect(try await stores[1].memories.contains(record.id) == false)
            #expect(try await b.search("diving osprey", limit: 5).isEmpty)
        }
    }
}

/// A chat channel configured on several gateways of one database: one of them fetches and answers its messages.
@Suite(.serialized)
struct PostgresChannelTests {
    @Test(.timeLimit(.minutes(3)))
    func aChannelOnTwoGatewaysAnswersEachMessageOnce() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [.assistant("one"), .assistant("two"), .assistant("three")])
        try await telegram.run { base in
            try await PostgresGatewayTests.withNodes(2) { stores in
                let config = TelegramChannelTests.config(base) { $0.allow = ["777"] }
                let a = try await TestGateway(config: config, provider: provider, store: stores[0])
                let b = try await TestGateway(config: config, provider: provider, store: stores[1])
                try await a.app().test(.live) { _ in
                    try await b.app().test(.live) { _ in
                        for text in ["1", "2", "3"] {
                            telegram.push(text, from: 777)
                            try await TestRuns.waitUntil { telegram.sent.count >= Int(text)! }
                        }
                    }
                }
                // Each message answered once, by whichever gateway held the channel, and received once
                #expect(telegram.sent.map(\.text) == ["one", "two", "three"])
                #expect(provider.requests.count == 3)
                let received = try await stores[0].ledger.events(
                    filter: EventFilter(type: "channel.received"),
                    limit: 100
                )
                #expect(received.count == 3)
            }
        }
    }
}
