import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey checkpoints`: the workspace's checkpoints, what changed since one, and restoring one.
struct CheckpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "Checkpoints of the workspace (taken before every task that may write): list, create, diff, restore.",
        subcommands: [List.self, Create.self, Diff.self, Restore.self],
        defaultSubcommand: List.self
    )

    static func line(_ checkpoint: JSONValue) -> String {
        "\(checkpoint["id"]?.stringValue?.prefix(12) ?? "-")  \(checkpoint["created_at"]?.stringValue ?? "-")  "
            + (checkpoint["label"]?.stringValue ?? "")
    }

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "The checkpoints, newest first."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/checkpoints")
            if json { return print(result.canonicalJSON) }
            for checkpoint in result["checkpoints"]?.arrayValue ?? [] { print(CheckpointsCommand.line(checkpoint)) }
        }
    }

    struct Create: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Checkpoint the workspace now."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Why.") var label: String = "checkpoint"

        func run(_ gateway: GatewayClient) async throws {
            print(
                CheckpointsCommand.line(
                    try await gateway.request(.POST, "/api/checkpoints", body: ["label": .string(label)])
                )
            )
        }
    }

    struct Diff: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "What changed in the workspace since a checkpoint."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The checkpoint (its id or the first 7+ hex digits).") var id: String
        @Flag(help: "Only the summary per file.") var stat = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/checkpoints/\(id)/diff")
            print((stat ? result["summary"] : result["patch"])?.stringValue ?? "", terminator: "")
        }
    }

    struct Restore: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Put the workspace back as it was at a checkpoint (what it holds now is checkpointed first)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The checkpoint.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.POST, "/api/checkpoints/\(id)/restore")
            print(
                "restored \(id); what the workspace held is checkpoint \(result["safety"]?["id"]?.stringValue?.prefix(12) ?? "-")"
            )
        }
    }
}
