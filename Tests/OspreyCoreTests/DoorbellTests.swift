import OspreyCore
import Synchronization
import Testing

struct DoorbellTests {
    /// A sleep that only ends when its task is cancelled.
    static let forever: @Sendable (Duration) async throws -> Void = { _ in
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    @Test func aRingWhileTheLoopIsBusyEndsItsNextWaitAtOnceAndOnlyThatOne() async throws {
        // Given a bell rung twice while nobody waits
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        // Then the next wait returns at once, though its sleep would never end
        try await bell.wait(atMost: .seconds(3600), sleep: Self.forever)
        // And the two rings were one: the wait after it sleeps until its time is up
        let slept = Mutex(false)
        try await bell.wait(atMost: .seconds(1)) { _ in slept.withLock { $0 = true } }
        #expect(slept.withLock { $0 })
    }

    @Test(.timeLimit(.minutes(3)))  // a ring that did not end the wait would hang here
    func aRingEndsAWaitThatIsUnderWay() async throws {
        let bell = Doorbell()
        let waiting = Task { try await bell.wait(atMost: .seconds(3600), sleep: Self.forever) }
        // One ring ends it, whether it comes before the wait begins (kept) or during it
        bell.ring()
        try await waiting.value
    }

    @Test func cancellingTheLoopEndsItsWaitWithCancellationError() async throws {
        let bell = Doorbell()
        let waiting = Task { try await bell.wait(atMost: .seconds(3600), sleep: Self.forever) }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }
}
