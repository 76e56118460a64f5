import OspreyCore
import Testing

struct ServerSentEventParserTests {
    static let stream = Array(
        ": comment\r\nid: 7\r\nevent: llm.delta\r\ndata: first line\r\ndata: second line\r\n\r\ndata: {\"done\":true}\n\nretry: 10\nid\ndata\n\n"
            .utf8
    )

    static let expected = [
        ServerSentEvent(event: "llm.delta", data: "first line\nsecond line", id: "7"),
        ServerSentEvent(event: nil, data: "{\"done\":true}", id: "7"),
        ServerSentEvent(event: nil, data: "", id: "", retry: 10),
    ]

    @Test(arguments: [1, 2, 3, 5, 7, 64, 1000])
    func eventsSplitAcrossChunksOfAnySizeParseTheSame(chunkSize: Int) {
        var parser = ServerSentEventParser()
        var events: [ServerSentEvent] = []
        for start in stride(from: 0, to: Self.stream.count, by: chunkSize) {
            events += parser.feed(Self.stream[start..<min(start + chunkSize, Self.stream.count)])
        }
        #expect(events == Self.expected)
        #expect(parser.finish())
    }

    @Test func aStreamCutMidEventYieldsNothingForThatEventAndSaysSo() {
        var parser = ServerSentEventParser()
        let events = parser.feed(Array("data: complete\n\ndata: {\"partial\":".utf8))
        #expect(events == [ServerSentEvent(data: "complete")])
        #expect(!parser.finish())
    }

    @Test func encodingRoundTripsThroughTheParser() {
        let event = ServerSentEvent(event: "message.user", data: "a\nb", id: "42")
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array(event.encoded.utf8)) == [event])
    }
}
