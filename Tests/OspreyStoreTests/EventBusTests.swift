import Foundation
import OspreyCore
import OspreyStore
import Testing

@Suite(.timeLimit(.minutes(3)))
struct EventBusTests {
    static func kind(_ name: String) -> Event.Kind { Event.Kind(rawValue: name) }

    /// Waits (with a deadline) until the bus has `count` subscribers.
    static func subscribers(_ bus: EventBus, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while bus.subscriberCount != count {
            guard ContinuousClock.now < deadline else {
                Issue.record("the bus has \(bus.subscriberCount) subscribers, not \(count)")
                return
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    @Test func aFilteredSubscriberHearsOnlyWhatItAskedForAndLeavesTheBusWhenItStops() async throws {
        // Given a subscriber that wants only `test.wanted`
        let store = try Store.inMemory()
        let bus = store.ledger.bus
        let wanted = Task {
            var seen: [Int] = []
            for await event in bus.subscribe(where: { $0.type == Self.kind("test.wanted") }) {
                seen.append(event.seq)
                if seen.count == 2 { break }
            }
            return seen
        }
        try await Self.subscribers(bus, 1)
        // When other events and wanted ones commit
        for name in ["test.other", "test.wanted", "test.other", "test.wanted"] {
            try await store.ledger.append(EventDraft(type: Self.kind(name)))
        }
        // Then it hears exactly the wanted ones, and once its loop ends it is off the bus
        #expect(await wanted.value == [2, 4])
        try await Self.subscribers(bus, 0)
    }

    @Test func cancellingAWaitingSubscriberEndsItsLoop() async throws {
        let bus = EventBus()
        let waiting = Task {
            for await _ in bus.subscribe() {}
            return true
        }
        try await Self.subscribers(bus, 1)
        waiting.cancel()
        #expect(await waiting.value)
        try await Self.subscribers(bus, 0)
    }

    @Test func aSlowSubscriberKeepsTheNewestEventsItsBufferHolds() async throws {
        // Given a bus whose subscribers buffer two events, and one that reads nothing yet
        let store = try Store.inMemory(bus: EventBus(bufferSize: 2))
        let subscription = store.ledger.bus.subscribe()
        // When five events commit
        for n in 1...5 { try await store.ledger.append(EventDraft(type: Self.kind("test.\(n)"))) }
        // Then it reads the newest two, in order (Ledger.follow refills such a gap from the database)
        var iterator = subscription.makeAsyncIterator()
        #expect(await iterator.next()?.seq == 4)
        #expect(await iterator.next()?.seq == 5)
        store.ledger.bus.finishAll()
        #expect(await iterator.next() == nil)
    }
}
