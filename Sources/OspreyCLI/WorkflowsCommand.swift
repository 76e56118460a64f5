import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey workflows`: workflow skills (a `workflow.toml` beside `SKILL.md`) and their runs.
struct WorkflowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflows",
        abstract: "Workflow skills: list them, run one (a task the gateway runs and resumes), show a run's steps.",
        subcommands: [List.self, Run.self, Show.self]
    )

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Every workflow skill, its inputs and steps."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/workflows")
            if json { return print(result.canonicalJSON) }
            let workflows = result["workflows"]?.arrayValue ?? []
            if workflows.isEmpty { print("no workflow skills") }
            for workflow in workflows {
                let state = workflow["unavailable"]?.stringValue.map { "unavailable: \($0)" } ?? "available"
                let inputs = workflow["inputs"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? ""
                print(
                    "\(workflow["name"]?.stringValue ?? "-")  \(state)  "
                        + "\(workflow["trusted"] == true ? "home" : "workspace (untrusted)")  inputs: \(inputs)"
                )
                for step in workflow["steps"]?.arrayValue ?? [] {
                    let needs = step["needs"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    print(
                        "  \(step["name"]?.stringValue ?? "-"): \(step["does"]?.stringValue ?? "")"
                            + (needs.isEmpty ? "" : " after \(needs.joined(separator: ", "))")
                    )
                }
            }
        }
    }

    struct Run: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run a workflow skill; prints the run's task id (with --wait, its steps when it ends)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The workflow skill's name.") var name: String
        @Option(name: .customLong("input"), help: "An input, NAME=VALUE (repeatable).") var inputs: [String] = []
        @Option(help: "The agent its steps run as.") var agent = "default"
        @Flag(help: "Wait until the run ends; exit 1 if it failed.") var wait = false

        func run(_ gateway: GatewayClient) async throws {
            var values: [String: JSONValue] = [:]
            for input in inputs {
                guard let equals = input.firstIndex(of: "="), equals != input.startIndex else {
                    throw CLIError("--input takes NAME=VALUE, not '\(input)'")
                }
                values[String(input[..<equals])] = .string(String(input[input.index(after: equals)...]))
            }
            let task = try await gateway.request(
                .POST,
                "/api/workflows/run",
                body: ["name": .string(name), "inputs": .object(values), "agent": .string(agent)]
            )
            let id = task["id"]?.stringValue ?? ""
            guard wait else { return print(id) }
            while true {
                let run = try await gateway.request(.GET, "/api/workflows/runs/\(id)")
                let status = run["task"]?["status"]?.stringValue ?? ""
                if ["completed", "failed", "cancelled"].contains(status) {
                    Show.print(run)
                    if status != "completed" { throw ExitCode(1) }
                    return
                }
                try await Task.sleep(for: .milliseconds(300))
            }
        }
    }

    struct Show: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "A workflow run: its task and each step's state."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The run's task id.") var id: String
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let run = try await gateway.request(.GET, "/api/workflows/runs/\(id)")
            if json { return Swift.print(run.canonicalJSON) }
            Self.print(run)
        }

        static func print(_ run: JSONValue) {
            let task = run["task"] ?? [:]
            Swift.print(
                "\(task["id"]?.stringValue ?? "-")  \(task["workflow"]?.stringValue ?? "-")  "
                    + "\(task["status"]?.stringValue ?? "-")"
            )
            for step in run["steps"]?.arrayValue ?? [] {
                let detail = step["error"]?.stringValue ?? step["child"]?.stringValue ?? ""
                Swift.print(
                    "  \(step["name"]?.stringValue ?? "-")  \(step["status"]?.stringValue ?? "-")"
                        + (detail.isEmpty ? "" : "  \(detail)")
                )
            }
            if let error = task["error"]?.stringValue { Swift.print("error: \(error)") }
            if let result = task["result"]?.stringValue { Swift.print(result) }
        }
    }
}
