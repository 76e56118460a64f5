import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey tasks`: background agent tasks.
struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "Submit, list, show and cancel background tasks.",
        subcommands: [Submit.self, List.self, Show.self, Cancel.self]
    )

    static func line(_ task: JSONValue) -> String {
        let field = { (key: String) in task[key]?.stringValue ?? "-" }
        return
            "\(field("id"))  \(field("status"))  p\(task["priority"]?.intValue ?? 0)  \(field("agent"))  \(field("title"))"
    }

    struct Submit: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "submit",
            abstract: "Queue a task; prints its id."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "A short title.") var title: String
        @Option(help: "The agent that runs it.") var agent = "default"
        @Option(help: "0-9, 9 runs first.") var priority = 5
        @Option(help: "Comma-separated tool names the task may use (default: the agent's).") var tools: String?
        @Argument(help: "What the task should do.") var instructions: String

        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = [
                "title": .string(title), "instructions": .string(instructions), "agent": .string(agent),
                "priority": .int(priority),
            ]
            if let tools {
                body["tools"] = .array(tools.split(separator: ",").map { .string(String($0)) })
            }
            print(try await gateway.create("/api/tasks", body))
        }
    }

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List recent tasks."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "queued, running, completed, failed or cancelled.") var status: String?
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let query =
                status.map { "?status=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                ?? ""
            let result = try await gateway.request(.GET, "/api/tasks" + query)
            if json { return print(result.canonicalJSON) }
            for task in result["tasks"]?.arrayValue ?? [] { print(TasksCommand.line(task)) }
        }
    }

    struct Show: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "A task's state, result and cost."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Task id.") var id: String
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let task = try await gateway.request(.GET, "/api/tasks/\(id)")
            if json { return print(task.canonicalJSON) }
            print(TasksCommand.line(task))
            if let result = task["result"]?.stringValue { print("result: \(result)") }
            if let error = task["error"]?.stringValue { print("error: \(error)") }
            print(
                "tokens \(task["tokens"]?.intValue ?? 0), cost $\(task["cost_usd"]?.doubleValue ?? 0), attempts \(task["attempts"]?.intValue ?? 0), session \(task["session"]?.stringValue ?? "-")"
            )
        }
    }

    struct Cancel: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel",
            abstract: "Cancel a queued or running task."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Task id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            let task = try await gateway.request(.POST, "/api/tasks/\(id)/cancel")
            print(TasksCommand.line(task))
        }
    }
}

/// `osprey cron`: schedules that submit tasks.
struct CronCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron",
        abstract: "Add, list, remove and run schedules (cron, @every, @at, event triggers).",
        subcommands: [Add.self, List.self, Remove.self, Run.self, Pause.self, Resume.self]
    )

    struct Add: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a schedule; prints its id and next run."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "Cron expression (5 fields or @daily …), '@every 10m' or '@at 2026-12-24T18:00:00Z'.")
        var spec: String?
        @Option(help: "Fire on this event type instead (e.g. task.failed, session.*).") var on: String?
        @Option(help: "With --on: seconds between two firings.") var cooldown = 60
        @Option(help: "IANA time zone of the spec.") var timezone = "UTC"
        @Option(help: "After downtime: skip or run_once.") var missed = "skip"
        @Option(help: "The agent that runs the task.") var agent = "default"
        @Option(help: "0-9, 9 runs first.") var priority = 5
        @Option(help: "A short title.") var title: String
        @Option(
            help: "Routine check (repeatable): file:PATH, command:CMD, disk:MIN_FREE_BYTES, memory:MIN_AVAILABLE_BYTES."
        )
        var check: [String] = []
        @Option(help: "With --check: a command tried before the agent when a check changes.") var remediation: String?
        @Option(help: "Run this workflow skill instead; the argument is then its inputs as a JSON object.")
        var workflow: String?
        @Argument(help: "What each run should do (with --workflow: its inputs, e.g. '{\"topic\":\"x\"}').")
        var instructions: String

        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = [
                "title": .string(title), "instructions": .string(instructions), "agent": .string(agent),
                "timezone": .string(timezone), "missed": .string(missed), "priority": .int(priority),
            ]
            if let spec { body["spec"] = .string(spec) }
            if let on { body["trigger"] = ["event": .string(on), "cooldown_seconds": .int(cooldown)] }
            if !check.isEmpty { body["checks"] = .array(try check.map(CronCommand.check)) }
            if let remediation { body["remediation"] = .string(remediation) }
            if let workflow { body["workflow"] = .string(workflow) }
            let schedule = try await gateway.request(
                .POST,
                "/api/schedules",
                body: .object(body)
            )
            print(
                "\(schedule["id"]?.stringValue ?? "")  next \(schedule["next_fire_at"]?.stringValue ?? "on event")"
            )
        }
    }

    /// `file:notes.md` → `{"kind":"file","path":"notes.md"}`, and so on.
    static func check(_ text: String) throws -> JSONValue {
        guard let colon = text.firstIndex(of: ":") else {
            throw ValidationError("--check must be KIND:VALUE (file:PATH, command:CMD, disk:BYTES, memory:BYTES)")
        }
        let kind = String(text[..<colon])
        let value = String(text[text.index(after: colon)...])
        switch kind {
        case "file": return ["kind": "file", "path": .string(value)]
        case "command": return ["kind": "command", "command": .string(value)]
        case "disk", "memory":
            guard let bytes = Int(value) else { throw ValidationError("--check \(kind): needs a number of bytes") }
            return ["kind": .string(kind), kind == "disk" ? "min_free_bytes" : "min_available_bytes": .int(bytes)]
        default:
            throw ValidationError("unknown check kind '\(kind)' (file, command, disk, memory)")
        }
    }

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List schedules."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/schedules")
            if json { return print(result.canonicalJSON) }
            for schedule in result["schedules"]?.arrayValue ?? [] {
                let field = { (key: String) in schedule[key]?.stringValue ?? "-" }
                let when =
                    schedule["spec"]?.stringValue ?? "on \(schedule["trigger"]?["event"]?.stringValue ?? "?")"
                print(
                    "\(field("id"))  [\(when)] \(field("timezone"))  next \(field("next_fire_at"))  \(field("title"))"
                )
            }
        }
    }

    struct Remove: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove a schedule."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Schedule id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(.DELETE, "/api/schedules/\(id)")
            print("removed \(id)")
        }
    }

    struct Run: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Fire a schedule now; prints the task id."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Schedule id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            let fired = try await gateway.request(.POST, "/api/schedules/\(id)/run")
            print(fired["task"]?["id"]?.stringValue ?? "no task (the routine's checks did not change)")
        }
    }

    struct Pause: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "pause",
            abstract: "Pause a schedule: it fires by neither time nor event."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Schedule id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(.POST, "/api/schedules/\(id)/pause")
            print("paused \(id)")
        }
    }

    struct Resume: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract: "Resume a paused schedule."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Schedule id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(.POST, "/api/schedules/\(id)/resume")
            print("resumed \(id)")
        }
    }
}
