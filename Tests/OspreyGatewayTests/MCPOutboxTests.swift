import OspreyCore
import Testing

@testable import OspreyGateway

/// The MCP door's stream of a session's own messages (the GET stream).
struct MCPOutboxTests {
    /// A host that opens the stream and stops reading it holds the newest frames only, as many as `Last-Event-ID`
    /// could replay; before, every notification since (a resource subscription's updates) waited in memory.
    @Test func aStreamThatIsNotReadKeepsOnlyTheFramesItCouldReplay() async {
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
}
