import Foundation
import OspreyCore
import OspreyScheduler
import OspreyStore
import OspreyTesting
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
