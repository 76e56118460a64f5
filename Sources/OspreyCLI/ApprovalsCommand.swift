import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey approvals`: tool calls waiting for a human, and the human's answer.
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals",
        abstract: "List, approve and reject tool calls that wait for a human.",
        subcommands: [List.self, Approve.self, Reject.self]
    )

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List approvals (pending ones by default)."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "pending, granted, denied, expired, used or all.") var status = "pending"
        @Flag(help: "Print the JSON the API returned.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(
                .GET,
                "/api/approvals?status=\(status.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            )
            if json {
                print(result.canonicalJSON)
                return
            }
            let approvals = result["approvals"]?.arrayValue ?? []
            if approvals.isEmpty { FileHandle.standardError.write(Data("no \(status) approvals\n".utf8)) }
            for approval in approvals {
                let field = { (key: String) in approval[key]?.stringValue ?? "-" }
                print(
                    "\(field("id"))  \(field("status"))  \(field("agent"))  \(field("tool"))  \(field("risk"))  expires \(field("expires_at"))"
                )
                print("    \(field("reason"))")
                print("    arguments: \(field("arguments").prefix(300))")
            }
        }
    }

    struct Approve: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "approve",
            abstract: "Allow a waiting tool call (once by default)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Approval id.") var id: String
        @Flag(help: "Also allow the same call with the same arguments for the rest of the session.") var session = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(
                .POST,
                "/api/approvals/\(id)/approve",
                body: ["scope": .string(session ? "session" : "once")]
            )
            print(
                "\(result["id"]?.stringValue ?? id) \(result["status"]?.stringValue ?? "") (\(result["scope"]?.stringValue ?? ""))"
            )
        }
    }

    struct Reject: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "reject",
            abstract: "Deny a waiting tool call."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Approval id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(
                .POST,
                "/api/approvals/\(id)/reject"
            )
            print("\(result["id"]?.stringValue ?? id) \(result["status"]?.stringValue ?? "")")
        }
    }
}
