import NIOCore
import OspreyCore
import Testing

@testable import OspreyGateway

/// What the gateway's streams keep in memory for their clients, whatever the clients and the events are like.
struct StreamBufferTests {
    /// An MCP host that opens its session's GET stream and stops reading it holds the newest frames only, as many as
    /// `Last-Event-ID` could replay; before, every notification since (a resource subscription's updates) waited in
    /// memory.
    @Test func anMCPStreamThatIsNotReadKeepsOnlyTheFramesItCouldReplay() async {
        let outbox = MCPController.Outbox()
        let stream = outbox.listen(after: 0)
        for n in 1...10_000 { outbox.post(["n": .int(n)]) }
        outbox.finish()
        var ids: [Int] = []
        for await frame in stream {
            ids += frame.split(separator: "\n").compactMap { $0.hasPrefix("id: ") ? Int($0.dropFirst(4)) : nil }
        }
        #expect(ids == Array((10_001 - MCPController.Outbox.keep)...10_000))
    }

    /// The event stream's shared frames: small ones are made once for every stream, large ones (a long message, a
    /// big tool result) each time and never kept, so 512 of them cannot pin half a gigabyte.
    @Test func theEventFrameCacheKeepsSmallFramesAndNeverLargeOnes() {
        func event(_ seq: Int, _ size: Int) -> Event {
            Event(
                seq: seq,
                id: Event.ID("evt_\(seq)"),
                ts: "2026-12-07T00:00:00.000Z",
                type: Event.Kind(rawValue: "message.user"),
                actor: .system,
                session: nil,
                task: nil,
                payload: ["text": .string(String(repeating: "a", count: size))],
                prevHash: "",
                hash: ""
            )
        }
        let cache = EventsController.FrameCache()
        for seq in 1...10 { _ = cache.frame(for: event(seq, 100_000)) }
        #expect(cache.keptBytes == 0)
        for seq in 601...1200 { _ = cache.frame(for: event(seq, 1_000)) }
        let kept = cache.keptBytes
        #expect(kept > 512 * 1_000 && kept < 512 * 2_000)
        // A kept frame is the same bytes as a fresh one
        #expect(String(buffer: cache.frame(for: event(1200, 1_000))) == EventsController.frame(event(1200, 1_000)))
    }
}
