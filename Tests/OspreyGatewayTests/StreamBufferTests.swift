import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyTesting
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

    /// The stream as written to a host: one that stops reading holds no second buffer behind the outbox's (before,
    /// the frames were moved on into an unbounded one, so every update waited in memory for the host), and once it
    /// reads again it gets the newest frames, in order.
    @Test(.timeLimit(.minutes(3))) func anMCPStreamWrittenToAHostThatStopsReadingHoldsOnlyTheReplayableFrames()
        async throws
    {
        let outbox = MCPController.Outbox()
        let (gate, open) = AsyncStream<Void>.makeStream()
        let writer = GatedWriter(gate: gate)
        let body = MCPController.streamBody(outbox.listen(after: 0))
        let written = Task { try await body.write(writer) }
        // The host takes ": connected" and then stops reading, while 2,000 updates are posted
        try await TestRuns.waitUntil(timeout: .seconds(30)) { !writer.collected.frames.isEmpty }
        try await Task.sleep(for: .milliseconds(200))  // the first frame is taken and its write waits
        for n in 1...2_000 { outbox.post(["n": .int(n)]) }
        open.finish()
        outbox.finish()
        try await written.value
        let ids = writer.collected.frames.compactMap(\.stringValue).joined().split(separator: "\n").compactMap {
            $0.hasPrefix("id: ") ? Int($0.dropFirst(4)) : nil
        }
        #expect(ids.count <= MCPController.Outbox.keep + 3, "\(ids.count) frames were held for a host that read none")
        #expect(ids == ids.sorted() && ids.last == 2_000)
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

/// A response writer whose host reads ": connected" and then nothing until `gate` ends.
final class GatedWriter: ResponseBodyWriter, @unchecked Sendable {  // written by the one body task
    let gate: AsyncStream<Void>
    let collected = Collected()
    private var waited = false

    init(gate: AsyncStream<Void>) { self.gate = gate }

    func write(_ buffer: ByteBuffer) async throws {
        if !collected.frames.isEmpty && !waited {
            waited = true
            for await _ in gate {}
        }
        collected.append(.string(String(buffer: buffer)))
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}

}
