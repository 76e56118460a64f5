import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore

struct EventsCommand: GatewayClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print ledger events; --follow streams new ones."
    )
    @OptionGroup var options: HomeOptions
    @Flag(help: "Keep streaming new events until interrupted.") var follow = false
    @Option(help: "Only this type (or a prefix like 'session.*').") var type: String?
    @Option(help: "Only this session.") var session: String?
    @Option(help: "Only events after this seq.") var after = 0
    @Option(help: "At most this many (without --follow).") var limit = 100
    @Flag(help: "Print each event as one JSON line.") var json = false

    func run(_ gateway: GatewayClient) async throws {
        var query = "after=\(after)"
        if let type {
            query += "&type=\(type.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? type)"
        }
        if let session {
            query += "&session=\(session.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? session)"
        }
        if follow {
            var parser = ServerSentEventParser()
            try await gateway.stream("/api/events/stream?\(query)", headers: [("Accept", "text/event-stream")]) {
                chunk in
                for event in parser.feed(chunk.readableBytesView) {
                    guard let value = try? JSONValue.parse(event.data) else { continue }
                    FileHandle.standardOutput.write(
                        Data(((json ? value.canonicalJSON : Self.line(value)) + "\n").utf8)
                    )
                }
            }
            return
        }
        let page = try await gateway.request(.GET, "/api/events?\(query)&limit=\(min(max(limit, 1), 1000))")
        for event in page["events"]?.arrayValue ?? [] { print(json ? event.canonicalJSON : Self.line(event)) }
    }

    static func line(_ event: JSONValue) -> String {
        let seq = event["seq"]?.intValue ?? 0
        let ts = event["ts"]?.stringValue ?? ""
        let type = event["type"]?.stringValue ?? ""
        let actor = event["actor"]?.stringValue ?? ""
        let session = event["session"]?.stringValue.map { " session=\($0)" } ?? ""
        return "\(seq)  \(ts)  \(type)  \(actor)\(session)  \(event["payload"]?.canonicalJSON ?? "{}")"
    }
}
