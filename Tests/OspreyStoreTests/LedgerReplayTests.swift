import OspreyCore
import Testing

@testable import OspreyStore

/// How a follower reads the backlog before the live events.
struct LedgerReplayTests {
    struct Caught: Error {}

    /// A replay reads at most 64 events and about a megabyte of their payloads at a time (one event, however large,
    /// at least), so a follower that waits on a slow consumer (an SSE client that stopped reading) holds no more;
    /// every event still comes, once, in order.
    @Test func aReplayReadsLargeEventsAFewAtATimeAndLosesNone() async throws {
        let store = try Store.inMemory()
        let large = String(repeating: "z", count: 300_000)
        for n in 0..<10 {
            try await store.ledger.append(
                EventDraft(
                    type: Event.Kind(rawValue: "test.large"),
                    actor: .system,
                    payload: ["n": .int(n), "text": .string(large)]
                )
            )
        }
        try await store.ledger.append(
            EventDraft(
                type: Event.Kind(rawValue: "test.huge"),
                actor: .system,
                payload: ["text": .string(large + large + large + large)]
            )
        )
        // Three of 300 kB fit in a page, a fourth would not; a 1.2 MB event is a page of its own
        let (events, bytes) = Ledger.replayPage
        let page = try await store.ledger.writer.read { db in
            try Ledger.events(db, after: 0, through: nil, filter: EventFilter(), limit: events, maxBytes: bytes)
        }
        #expect(page.events.map(\.seq) == [1, 2, 3] && page.more)
        let huge = try await store.ledger.writer.read { db in
            try Ledger.events(db, after: 10, through: nil, filter: EventFilter(), limit: events, maxBytes: bytes)
        }
        #expect(huge.events.map(\.seq) == [11] && !huge.more)
        // A follower gets all eleven, once, in order
        var seen: [Int] = []
        do {
            try await store.ledger.follow(after: 0) { event in
                seen.append(event.seq)
                if event.seq == 11 { throw Caught() }
            }
        } catch is Caught {}
        #expect(seen == Array(1...11))
    }
}
