import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

@testable import OspreyScheduler

/// The scheduler's loop sleeps until the next schedule is due (an idle gateway does not poll) and wakes when
/// schedules change.
struct SchedulerLoopTests {
    @Test func theLoopRestsUntilTheNextScheduleTheNextUTCDayOrAtMostItsLongest() throws {
        let noon = try instant("2026-12-05T12:00:00Z")
        // The next schedule is due in 2.5 s: it sleeps 2.5 s (and a millisecond, so the pass after it finds it due)
        #expect(Scheduler.rest(until: noon.addingTimeInterval(2.5), now: noon) == .milliseconds(2501))
        // None is due: at most the longest rest (15 minutes)
        #expect(Scheduler.rest(until: nil, now: noon) == .seconds(900))
        #expect(Scheduler.rest(until: noon.addingTimeInterval(7200), now: noon) == .seconds(900))
        // Ten seconds before midnight (UTC): ten seconds, when budgets paused for the day resume
        let late = try instant("2026-12-05T23:59:50Z")
        #expect(Scheduler.rest(until: nil, now: late) == .milliseconds(10_001))
        // A schedule already due (its firing failed): a short rest, not a busy loop
        #expect(Scheduler.rest(until: noon.addingTimeInterval(-5), now: noon) == .milliseconds(10))
    }

    @Test func aScheduleAddedWhileTheLoopIsIdleFiresWhenDue() async throws {
        // Given a running scheduler with no schedules (it rests up to 15 minutes)
        let store = try Store.inMemory()
        let scheduler = TestRuns.scheduler(store)
        let loop = Task { await scheduler.run() }
        defer { loop.cancel() }
        try await Task.sleep(for: .milliseconds(200))
        // When a schedule due every second is added
        let added = try await scheduler.add(
            Scheduler.Request(spec: "@every 1s", title: "often", instructions: "report"),
            actor: .user("test")
        )
        // Then its change wakes the loop, which fires it when due, and again a second later
        try await TestRuns.waitUntil {
            try await store.tasks.list(limit: 10).filter { $0.schedule == added.id }.count >= 2
        }
        // And a paused schedule is not fired by a pass, however late
        _ = try await store.schedules.setPaused(added.id, true, actor: .user("test"))
        #expect(try await scheduler.tick(now: Date().addingTimeInterval(3600)) == 0)
    }
}
