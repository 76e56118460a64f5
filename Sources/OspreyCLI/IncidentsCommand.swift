import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey incidents`: troubleshooting records and their steps.
struct IncidentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "Open, follow and resolve incidents: steps of observation, hypothesis, action and result.",
        subcommands: [List.self, Show.self, Create.self, Step.self, Resolve.self]
    )

    static func line(_ incident: JSONValue) -> String {
        let field = { (key: String) in incident[key]?.stringValue ?? "-" }
        let steps = incident["steps"]?.arrayValue?.count ?? 0
        return "\(field("id"))  \(field("status"))  \(field("severity"))  \(field("title"))  (\(steps) steps)"
    }

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "The incidents, newest first."
        )
        @OptionGroup var options: HomeOptions
        func run(_ gateway: GatewayClient) async throws {
            let list = try await gateway.request(.GET, "/api/incidents")["incidents"]?.arrayValue ?? []
            if list.isEmpty { FileHandle.standardError.write(Data("no incidents\n".utf8)) }
            for incident in list { print(IncidentsCommand.line(incident)) }
        }
    }

    struct Show: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "One incident with its steps."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Incident id.") var id: String
        @Flag(help: "Print the JSON the API returned.") var json = false
        func run(_ gateway: GatewayClient) async throws {
            let incident = try await gateway.request(.GET, "/api/incidents/\(id)")
            if json {
                print(incident.canonicalJSON)
                return
            }
            print(IncidentsCommand.line(incident))
            for step in incident["steps"]?.arrayValue ?? [] {
                let events = step["events"]?.arrayValue?.compactMap(\.intValue).map(String.init) ?? []
                print(
                    "  \(step["n"]?.intValue ?? 0). [\(step["kind"]?.stringValue ?? "")] \(step["text"]?.stringValue ?? "")"
                        + (events.isEmpty ? "" : "  events \(events.joined(separator: ","))")
                        + (step["command"]?.stringValue.map { "  $ \($0)" } ?? "")
                )
            }
            if let summary = incident["summary"]?.stringValue { print("  resolved: \(summary)") }
        }
    }

    struct Create: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Open an incident."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "low, medium, high or critical.") var severity = "medium"
        @Argument(help: "What is wrong.") var title: String
        func run(_ gateway: GatewayClient) async throws {
            let incident = try await gateway.request(
                .POST,
                "/api/incidents",
                body: ["title": .string(title), "severity": .string(severity)]
            )
            print(incident["id"]?.stringValue ?? "")
        }
    }

    struct Step: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "step",
            abstract: "Add a step to an open incident."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Incident id.") var id: String
        @Option(help: "observation, hypothesis, action or result.") var kind: String
        @Option(name: .customLong("event"), help: "A ledger event the step points at (repeatable).") var events: [Int] =
            []
        @Option(help: "The command the step ran.") var command: String?
        @Argument(help: "What was seen, thought or done.") var text: String
        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = [
                "kind": .string(kind), "text": .string(text), "events": .array(events.map(JSONValue.int)),
            ]
            if let command { body["command"] = .string(command) }
            let incident = try await gateway.request(.POST, "/api/incidents/\(id)/steps", body: .object(body))
            print(IncidentsCommand.line(incident))
        }
    }

    struct Resolve: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "resolve",
            abstract: "Resolve an incident with a summary."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Incident id.") var id: String
        @Argument(help: "What happened and what fixed it.") var summary: String
        func run(_ gateway: GatewayClient) async throws {
            let incident = try await gateway.request(
                .POST,
                "/api/incidents/\(id)/resolve",
                body: ["summary": .string(summary)]
            )
            print(IncidentsCommand.line(incident))
        }
    }
}
