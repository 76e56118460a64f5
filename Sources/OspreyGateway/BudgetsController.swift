import Foundation
import Hummingbird
import OspreyCore
import OspreyStore

/// `/api/budgets`: each agent's daily and per-run limits (config.toml, or an operator's override), what it spent
/// today and what is left, whether it was warned (80 %) or paused (100 %: its schedules stop until the next UTC day);
/// set an override, resume a paused agent. The numbers are the ones the meter enforces before every model call.
struct BudgetsController {
    let config: OspreyConfig
    let store: Store

    var operations: [Operation] { [list, set, resume] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/budgets", list)
        routes.bind(.put, "/api/budgets/:agent", set, parameters: ["agent": "agent"], body: true)
        routes.bind(.post, "/api/budgets/:agent/resume", resume, parameters: ["agent": "agent"])
    }

    var agents: [String] { config.agentNames }

    func check(_ agent: String) throws {
        guard agents.contains(agent) else {
            throw APIError(.notFound, "not_found", "No agent named '\(agent)' in config.toml.")
        }
    }

    /// One agent's budget as the API shows it.
    func budget(_ agent: String, state: BudgetState) async throws -> JSONValue {
        let limits = state.override.applied(to: config.agent(agent))
        let spent = try await store.spending.today(agent: agent)
        let today = Budgets.day()
        func left(_ limit: Int, _ used: Int) -> JSONValue { limit > 0 ? .int(max(0, limit - used)) : .null }
        func left(_ limit: Double, _ used: Double) -> JSONValue { limit > 0 ? .double(max(0, limit - used)) : .null }
        return [
            "agent": .string(agent),
            "tokens_per_day": .int(limits.tokensPerDay), "cost_per_day_usd": .double(limits.costPerDayUSD),
            "tokens_per_run": .int(limits.tokensPerRun), "cost_per_run_usd": .double(limits.costPerRunUSD),
            "tokens_today": .int(spent.tokens), "cost_today_usd": .double(spent.costUSD),
            "tokens_left": left(limits.tokensPerDay, spent.tokens),
            "cost_left_usd": left(limits.costPerDayUSD, spent.costUSD),
            "overridden": .bool(!state.override.isEmpty), "warned": .bool(state.warnedDay == today),
            "paused": .bool(state.pausedDay == today),
        ]
    }

    var list: Operation {
        Operation("budgets.list", role: .viewer) { (_: NoFields, _) in
            let states = try await store.budgets.all()
            var budgets: [JSONValue] = []
            for agent in agents { budgets.append(try await budget(agent, state: states[agent] ?? BudgetState())) }
            return ["budgets": .array(budgets)]
        }
    }

    struct Change: OperationRequest {
        static let fields: Set<String> = [
            "agent", "tokens_per_day", "cost_per_day_usd", "tokens_per_run", "cost_per_run_usd",
        ]
        let agent: String
        let override: BudgetOverride

        init(_ fields: Fields) throws {
            agent = try fields.string("agent")
            func number(_ key: String) throws -> Double? {
                switch fields[key] {
                case nil, .null?: return nil
                case let value?:
                    guard let number = value.doubleValue, number >= 0, number.isFinite else {
                        throw APIError.badRequest("Field '\(key)' must be a number, 0 (no limit) or more, or null.")
                    }
                    return number
                }
            }
            func integer(_ key: String) throws -> Int? {
                guard let value = try number(key) else { return nil }
                guard value == value.rounded() else { throw APIError.badRequest("Field '\(key)' must be an integer.") }
                return Int(value)
            }
            override = BudgetOverride(
                tokensPerDay: try integer("tokens_per_day"),
                costPerDayUSD: try number("cost_per_day_usd"),
                tokensPerRun: try integer("tokens_per_run"),
                costPerRunUSD: try number("cost_per_run_usd")
            )
        }
    }

    /// Replaces an agent's override (a field left out or null: config.toml's value).
    var set: Operation {
        Operation("budgets.set", role: .admin) { (request: Change, caller) in
            try check(request.agent)
            try await store.budgets.set(request.agent, request.override, actor: caller.actor)
            return try await budget(request.agent, state: try await store.budgets.state(request.agent))
        }
    }

    struct AgentRef: OperationRequest {
        static let fields: Set<String> = ["agent"]
        let agent: String
        init(_ fields: Fields) throws { agent = try fields.string("agent") }
    }

    /// Lifts an agent's budget pause: its schedules fire again (a raised limit, or the operator accepts the spend).
    var resume: Operation {
        Operation("budgets.resume", role: .operator) { (request: AgentRef, caller) in
            try check(request.agent)
            let schedules = try await store.budgets.resume(request.agent, actor: caller.actor)
            var answer = try await budget(request.agent, state: try await store.budgets.state(request.agent))
            if case .object(var members) = answer {
                members["schedules_resumed"] = .int(schedules)
                answer = .object(members)
            }
            return answer
        }
    }
}
