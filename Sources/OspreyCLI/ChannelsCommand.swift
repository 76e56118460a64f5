import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey channels`: the chat channels, who may talk through them, and pairing.
struct ChannelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channels",
        abstract: "List chat channels and their senders, pair a sender's code, revoke a sender, test a channel.",
        subcommands: [List.self, Pair.self, Revoke.self, Test.self]
    )

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the channels, the paired senders and the pairings waiting for a code."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print the JSON the API returned.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/channels")
            if json {
                print(result.canonicalJSON)
                return
            }
            let channels = result["channels"]?.arrayValue ?? []
            if channels.isEmpty { FileHandle.standardError.write(Data("no channels in config.toml\n".utf8)) }
            for channel in channels {
                let field = { (key: String) in channel[key]?.stringValue ?? "-" }
                let allowed = channel["allow"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
                print("\(field("name"))  \(field("kind"))  agent \(field("agent"))  allow [\(allowed)]")
            }
            for sender in result["senders"]?.arrayValue ?? [] {
                let field = { (key: String) in sender[key]?.stringValue ?? "-" }
                let state = sender["revoked_at"]?.stringValue.map { "revoked \($0)" } ?? "paired \(field("paired_at"))"
                let approver = sender["approver"] == true ? "  approver" : ""
                print("  \(field("channel"))/\(field("sender"))  \(field("display"))  \(state)\(approver)")
            }
            for pairing in result["pending"]?.arrayValue ?? [] {
                let field = { (key: String) in pairing[key]?.stringValue ?? "-" }
                print(
                    "  waiting: \(field("channel"))/\(field("sender"))  \(field("display"))  expires \(field("expires_at"))"
                )
            }
        }
    }

    struct Pair: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "pair",
            abstract: "Allow the sender a pairing code was given to (the code the sender was sent)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The pairing code, XXXX-XXXX.") var code: String
        @Flag(help: "Let the sender answer approvals from the chat.") var approver = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(
                .POST,
                "/api/channels/pair",
                body: ["code": .string(code), "approver": .bool(approver)]
            )
            let field = { (key: String) in result[key]?.stringValue ?? "-" }
            print("paired \(field("channel"))/\(field("sender")) (\(field("display")))\(approver ? ", approver" : "")")
        }
    }

    struct Revoke: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Take a paired sender off a channel's allowlist."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Channel name.") var channel: String
        @Argument(help: "The sender's platform id.") var sender: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(
                .POST,
                "/api/channels/\(Self.path(channel))/revoke",
                body: ["sender": .string(sender)]
            )
            print("revoked \(channel)/\(sender)")
        }

        static func path(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
        }
    }

    struct Test: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Check a channel's credentials and base URL: who the bot is on the platform."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Channel name.") var channel: String

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.POST, "/api/channels/\(Revoke.path(channel))/test")
            print(
                "\(channel): ok, the bot is \(result["name"]?.stringValue ?? "?") (id \(result["id"]?.stringValue ?? "?"))"
            )
        }
    }
}
