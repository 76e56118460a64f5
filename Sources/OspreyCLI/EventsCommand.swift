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
    @Option(help: "At most this many, 1 to 1000 (without --follow).") var limit = 100
    @Flag(help: "Print each event as one JSON line.") var json = false

    func validate() throws {
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1 to 1000 (it was \(limit))") }
        guard after >= 0 else { throw ValidationError("--after must be 0 or more (it was \(after))") }
    }

    func run(_ gateway: GatewayClient) async throws {
        // Each value encoded whole: a '&', '=' or '+' in a type or session is part of it, not another parameter.
        var query = "after=\(after)"
        if let type { query += "&type=\(type.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
        if let session {
            query += "&session=\(session.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
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
        let page = try await gateway.request(.GET, "/api/events?\(query)&limit=\(limit)")
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
