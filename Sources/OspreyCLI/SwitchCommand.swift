import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey switch`: SafeSwitch changes to the host, with health gates and automatic rollback.
struct SwitchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switch",
        abstract: "Change the host with health checks and automatic rollback: begin a plan, see, commit, roll back.",
        subcommands: [Begin.self, Status.self, Commit.self, Rollback.self]
    )

    /// One line for a switch.
    static func line(_ record: JSONValue) -> String {
        let field = { (key: String) in record[key]?.stringValue ?? "-" }
        var text = "\(field("id"))  \(field("status"))  \(record["plan"]?["reason"]?.stringValue ?? "")"
        if field("status") == "probation" { text += "  (until \(field("expires_at")))" }
        if let reason = record["outcome"]?["reason"]?.stringValue, field("status") == "rolled_back" {
            text += "  rolled back: \(reason)"
        }
        return text
    }

    struct Begin: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "begin",
            abstract:
                "Apply a plan (JSON: reason, ttl_seconds, interval_seconds, files, services, packages, checks) on probation."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "The plan, a JSON file.") var plan: String
        @Flag(help: "Print the JSON the API returned.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let text: String
            do {
                text = try String(contentsOfFile: plan, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read \(plan): \(error.localizedDescription)")
            }
            let body: JSONValue
            do {
                body = try JSONValue.parse(text)
            } catch {
                throw ValidationError("\(plan) is not JSON: \(error)")
            }
            let result = try await gateway.request(.POST, "/api/switches", body: body)
            print(json ? result.canonicalJSON : SwitchCommand.line(result))
        }
    }

    struct Status: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show one switch, or list them (newest first)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Switch id.") var id: String?
        @Flag(help: "Print the JSON the API returned.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            if let id {
                let result = try await gateway.request(.GET, "/api/switches/\(id)")
                print(json ? result.canonicalJSON : SwitchCommand.line(result))
                return
            }
            let result = try await gateway.request(.GET, "/api/switches")
            if json {
                print(result.canonicalJSON)
                return
            }
            let list = result["switches"]?.arrayValue ?? []
            if list.isEmpty { FileHandle.standardError.write(Data("no switches\n".utf8)) }
            for record in list { print(SwitchCommand.line(record)) }
        }
    }

    struct Commit: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "commit",
            abstract: "Keep a change in probation."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Switch id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            print(SwitchCommand.line(try await gateway.request(.POST, "/api/switches/\(id)/commit")))
        }
    }

    struct Rollback: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Undo a change in probation from its snapshot."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Switch id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            print(SwitchCommand.line(try await gateway.request(.POST, "/api/switches/\(id)/rollback")))
        }
    }
}
