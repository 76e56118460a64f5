import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore

struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Create, list and revoke API tokens.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a token; it is printed once."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "admin, operator or viewer.") var role = "viewer"
        @Option(help: "A name to recognise it by.") var name: String?
        @Option(help: "Bind the token to an agent: it acts for that agent and can never decide approvals.")
        var agent: String?
        @Option(help: "Seconds until the token stops working (it also ends its open streams then).")
        var expiresIn: Int?
        @Option(
            name: .customLong("scope"),
            help: "A route group the token may reach (sessions, events, tasks, ...); repeat for more. Default: all."
        )
        var scopes: [String] = []

        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = ["role": .string(role), "name": .string(name ?? role)]
            if let agent { body["agent"] = .string(agent) }
            if let expiresIn { body["expires_in_seconds"] = .int(expiresIn) }
            if !scopes.isEmpty { body["scopes"] = .array(scopes.map(JSONValue.string)) }
            let result = try await gateway.request(
                .POST,
                "/api/tokens",
                body: .object(body)
            )
            print(result["token"]?.stringValue ?? "")
            FileHandle.standardError.write(
                Data(
                    "token \(result["id"]?.stringValue ?? "") (\(role)); store it now, it is not shown again\n".utf8
                )
            )
        }
    }

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List tokens (never their values)."
        )
        @OptionGroup var options: HomeOptions

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/tokens")
            for token in result["tokens"]?.arrayValue ?? [] {
                let revoked = token["revoked_at"]?.stringValue.map { "revoked \($0)" } ?? "active"
                var limits = ""
                if let agent = token["agent"]?.stringValue { limits += "  agent \(agent)" }
                if let scopes = token["scopes"]?.arrayValue {
                    limits += "  scopes \(scopes.compactMap(\.stringValue).joined(separator: ","))"
                }
                if let expiry = token["expires_at"]?.stringValue { limits += "  expires \(expiry)" }
                print(
                    "\(token["id"]?.stringValue ?? "")  \(token["role"]?.stringValue ?? "")  \(token["name"]?.stringValue ?? "")  \(revoked)\(limits)"
                )
            }
        }
    }

    struct Revoke: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke a token at once."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Token id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(.DELETE, "/api/tokens/\(id)")
            print("revoked \(id)")
        }
    }
}
