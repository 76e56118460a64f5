import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey budgets`: each agent's limits, spending today and what is left; overrides and resuming.
struct BudgetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budgets",
        abstract:
            "Agents' daily and per-run budgets: what is spent and left today; override a limit; resume a paused agent.",
        subcommands: [List.self, Limit.self, Resume.self],
        defaultSubcommand: List.self
    )

    static func line(_ budget: JSONValue) -> String {
        func limit(_ key: String, _ unit: String) -> String {
            let value = budget[key]?.doubleValue ?? 0
            return value > 0 ? "\(unit)\(value.formatted())" : "no limit"
        }
        let state = budget["paused"] == true ? "PAUSED" : budget["warned"] == true ? "warned (80 %)" : "ok"
        return
            "\(budget["agent"]?.stringValue ?? "-")  \(state)  today \(budget["tokens_today"]?.intValue ?? 0) tokens "
            + "/ \(limit("tokens_per_day", "")), $\(String(format: "%.4f", budget["cost_today_usd"]?.doubleValue ?? 0)) "
            + "/ \(limit("cost_per_day_usd", "$"))  per run \(limit("tokens_per_run", "")) tokens, "
            + "\(limit("cost_per_run_usd", "$"))\(budget["overridden"] == true ? "  (overridden)" : "")"
    }

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Every agent's budget and spending today."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/budgets")
            if json { return print(result.canonicalJSON) }
            for budget in result["budgets"]?.arrayValue ?? [] { print(BudgetsCommand.line(budget)) }
        }
    }

    struct Limit: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Override an agent's limits (admin); a limit not given is config.toml's again, 0 is none."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The agent.") var agent: String
        @Option(help: "Tokens a day.") var tokensPerDay: Int?
        @Option(help: "Dollars a day.") var costPerDay: Double?
        @Option(help: "Tokens a run.") var tokensPerRun: Int?
        @Option(help: "Dollars a run.") var costPerRun: Double?

        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = [:]
            if let tokensPerDay { body["tokens_per_day"] = .int(tokensPerDay) }
            if let costPerDay { body["cost_per_day_usd"] = .double(costPerDay) }
            if let tokensPerRun { body["tokens_per_run"] = .int(tokensPerRun) }
            if let costPerRun { body["cost_per_run_usd"] = .double(costPerRun) }
            let budget = try await gateway.request(.PUT, "/api/budgets/\(agent)", body: .object(body))
            print(BudgetsCommand.line(budget))
        }
    }

    struct Resume: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract: "Resume an agent its budget paused."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The agent.") var agent: String

        func run(_ gateway: GatewayClient) async throws {
            let budget = try await gateway.request(.POST, "/api/budgets/\(agent)/resume")
            print("resumed \(agent): \(budget["schedules_resumed"]?.intValue ?? 0) schedules fire again")
        }
    }
}
