import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Synchronization
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

    /// A store that refuses every pass (here its schedules table is gone; on a full disk, every write) is retried
    /// after 1, 2, 4, 8, 16 and then every 30 s, not every second; once it works again, the loop is back to its rests
    /// and the next failure starts again at 1 s.
    @Test func aFailingPassIsRetriedLessAndLessOften() async throws {
        let store = try Store.inMemory()
        let clock = RecordingClock()
        let scheduler = Scheduler(store: store, clock: clock) { $0 == "default" }
        _ = try await store.transaction { db in try db.execute("ALTER TABLE schedules RENAME TO schedules_away") }
        let loop = Task { await scheduler.run() }
        defer { loop.cancel() }
        try await TestRuns.waitUntil { clock.sleeps.count >= 7 }
        #expect(Array(clock.sleeps.prefix(7)) == [1, 2, 4, 8, 16, 30, 30])
        // When the store works again, the loop rests until the next schedule (none: its longest rest)
        _ = try await store.transaction { db in try db.execute("ALTER TABLE schedules_away RENAME TO schedules") }
        try await TestRuns.waitUntil { clock.sleeps.contains(900) }
        // and a new failure starts again at one second
        let before = clock.sleeps.count
        _ = try await store.transaction { db in try db.execute("ALTER TABLE schedules RENAME TO schedules_away") }
        try await TestRuns.waitUntil { clock.sleeps.count > before + 2 }
        #expect(Array(clock.sleeps.dropFirst(before).drop { $0 == 900 }.prefix(2)) == [1, 2])
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
        // Then its change wakes the loop, which fires it when due, and again a second after its task has ended
        // (while it is queued, the ticks are skipped)
        try await TestRuns.waitUntil {
            try await store.tasks.list(limit: 10).filter { $0.schedule == added.id }.count == 1
        }
        let first = try #require(try await store.tasks.list(limit: 10).first { $0.schedule == added.id })
        _ = try await store.tasks.cancel(first.id, actor: .user("test"))
        try await TestRuns.waitUntil {
            try await store.tasks.list(limit: 10).filter { $0.schedule == added.id }.count >= 2
        }
        // And a paused schedule is not fired by a pass, however late
        _ = try await store.schedules.setPaused(added.id, true, actor: .user("test"))
        #expect(try await scheduler.tick(now: Date().addingTimeInterval(3600)) == 0)
    }
}

/// A clock that records each sleep asked of it, to the nearest second, and returns after a millisecond instead.
final class RecordingClock: Clock, Sendable {
    typealias Instant = ContinuousClock.Instant
    private let asked = Mutex<[Int]>([])

    var sleeps: [Int] { asked.withLock { $0 } }
    var now: Instant { ContinuousClock.now }
    var minimumResolution: Duration { .zero }

    func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let (seconds, attoseconds) = ContinuousClock.now.duration(to: deadline).components
        asked.withLock { $0.append(Int((Double(seconds) + Double(attoseconds) / 1e18).rounded())) }
        try await Task.sleep(for: .milliseconds(1))
    }
}
