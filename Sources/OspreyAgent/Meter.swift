import Foundation
public import OspreyCore
public import OspreyProviders
public import OspreyStore
import Synchronization

/// Hard budgets and the `llm.call` record: a model call is reserved against the agent's daily and per-run
/// limits before it is made, and settled (event + daily usage, in one transaction) after.
public final class Meter: Sendable {
    let store: Store
    let pricing: @Sendable (ModelRoute) -> Pricing?
    /// Tokens and cost reserved by calls in flight, by agent, so concurrent runs cannot overspend together.
    private let reserved = Mutex<[String: (tokens: Int, cost: Double)]>([:])
    /// The same by task (a call for a sub-task holds against every ancestor too), for the per-task limits.
    private let reservedByTask = Mutex<[String: (tokens: Int, cost: Double)]>([:])
    /// Calls made and paid for whose record the store refused (a full disk): recorded before the next call is
    /// reserved, and held against their agent's daily limits until then.
    private let owed = Mutex<[Spending.Charge]>([])
    /// Where the owed calls are kept, rewritten whenever they change (so a gateway killed before its stop loses
    /// none), read back at the next start (``loadOwed()``): room taken on the disk at start-up, so a full disk still
    /// takes them. Whether it holds any now.
    private let reserve: ReservedFile?
    private let reserveHolds = Mutex(false)

    public init(store: Store, reserve: ReservedFile? = nil, pricing: @escaping @Sendable (ModelRoute) -> Pricing?) {
        self.store = store
        self.reserve = reserve
        self.pricing = pricing
    }

    /// The owed calls a stop kept (``keepOwed()``), owed again: recorded at the next reservation once the store
    /// takes writes, the file emptied once all are. Returns how many.
    @discardableResult
    public func loadOwed() throws -> Int {
        guard let bytes = try reserve?.load() else { return 0 }
        let charges = try store.spending.unsealed(bytes)
        reserveHolds.withLock { $0 = true }
        owe(charges, keeping: false)  // the file holds them already
        return charges.count
    }

    /// At a stop: records the owed calls if the store takes them now, and keeps the rest in the reserved file (the
    /// newest, as many as fit), for the next start to owe again. Returns how many were kept.
    @discardableResult
    public func keepOwed() async throws -> Int {
        await settleOwed()
        return try owed.withLock { owed in try keep(owed) }
    }

    /// Makes the reserved file hold `charges` (the newest, as many as fit), or nothing; returns how many it holds.
    /// Called with the owed list locked, so writes follow its changes in order.
    private func keep(_ charges: [Spending.Charge]) throws -> Int {
        guard let reserve else {
            guard charges.isEmpty else {
                throw FileWriteError("\(charges.count) calls owed are lost: no room was taken for them at start-up")
            }
            return 0
        }
        guard !charges.isEmpty else {
            if reserveHolds.withLock({ $0 }) {
                try reserve.clear()
                reserveHolds.withLock { $0 = false }
            }
            return 0
        }
        var kept = charges
        var bytes = store.spending.sealed(kept)
        while bytes.count > reserve.capacity, !kept.isEmpty {
            kept.removeFirst(max(1, kept.count / 8))
            bytes = store.spending.sealed(kept)
        }
        try reserve.store(bytes)
        reserveHolds.withLock { $0 = true }
        return kept.count
    }

    /// What a run has used so far.
    public struct RunUsage: Sendable {
        public var tokens = 0
        public var cost = 0.0
        public init() {}
    }

    /// A reservation held while one call is in flight.
    public struct Reservation: Sendable {
        let agent: String
        let tokens: Int
        let cost: Double
        /// The task the call is for and its ancestors, each holding the reservation too.
        var tasks: [String] = []
    }

    /// Reserves the worst case of the next call (estimated prompt + the reply limit) or refuses it.
    ///
    /// A call for a task must also fit the task's limits and those of every ancestor: what each has spent
    /// (stored, so it survives a crash and includes its sub-tasks), plus what calls in flight hold.
    /// A refusal is recorded as `budget.exceeded` and thrown as ``AgentError/budgetExceeded(_:)``; the call is never made.
    public func reserve(
        agent: String,
        limits: OspreyConfig.Agent,
        route: ModelRoute,
        estimatedInput: Int,
        maxOutput: Int,
        run: RunUsage,
        session: Session.ID?,
        task: TaskRecord.ID? = nil
    ) async throws -> Reservation {
        await settleOwed()
        var lineage: [TaskRecord] = []
        if let task { lineage = try await store.tasks.lineage(of: task) }
        let tokens = estimatedInput + maxOutput
        let cost = pricing(route)?.cost(Usage(inputTokens: estimatedInput, outputTokens: maxOutput)) ?? 0
        let spent = try await store.spending.today(agent: agent)
        let (usedTokens, usedCost) = (spent.tokens, spent.costUSD)
        // An operator's override (PUT /api/budgets/{agent}) stands over config.toml.
        let budget = try await store.budgets.state(agent)
        let limits = budget.override.applied(to: limits)
        var daily = false  // the refusal is a daily limit's: the agent's schedules pause
        var share = 0.0  // the largest share of a daily limit this call could bring the day to
        let refusal: String? = reserved.withLock { reserved in
            let held = reserved[agent] ?? (0, 0)
            if limits.tokensPerRun > 0, run.tokens + tokens > limits.tokensPerRun {
                return "this run would use up to \(run.tokens + tokens) tokens; its limit is \(limits.tokensPerRun)"
            }
            if limits.costPerRunUSD > 0, run.cost + cost > limits.costPerRunUSD {
                return String(
                    format: "this run would cost up to $%.4f; its limit is $%.4f",
                    run.cost + cost,
                    limits.costPerRunUSD
                )
            }
            if limits.tokensPerDay > 0 {
                share = max(share, Double(usedTokens + held.tokens + tokens) / Double(limits.tokensPerDay))
            }
            if limits.costPerDayUSD > 0 { share = max(share, (usedCost + held.cost + cost) / limits.costPerDayUSD) }
            if limits.tokensPerDay > 0, usedTokens + held.tokens + tokens > limits.tokensPerDay {
                daily = true
                return
                    "agent '\(agent)' would use up to \(usedTokens + held.tokens + tokens) tokens today; its daily limit is \(limits.tokensPerDay)"
            }
            if limits.costPerDayUSD > 0, usedCost + held.cost + cost > limits.costPerDayUSD {
                daily = true
                return String(
                    format: "agent '%@' would spend up to $%.4f today; its daily limit is $%.4f",
                    agent,
                    usedCost + held.cost + cost,
                    limits.costPerDayUSD
                )
            }
            if let refusal = reserveForTasks(lineage, tokens: tokens, cost: cost) { return refusal }
            reserved[agent] = (held.tokens + tokens, held.cost + cost)
            return nil
        }
        if let refusal {
            try await store.ledger.append(
                EventDraft(
                    type: .budgetExceeded,
                    actor: .agent(agent),
                    session: session,
                    payload: [
                        "reason": .string(refusal), "route": .string(route.description),
                        "estimated_tokens": .int(tokens),
                        "used_tokens_today": .int(usedTokens), "used_cost_today_usd": .double(usedCost),
                    ]
                )
            )
            // At 100 % of a daily limit the agent's schedules stop firing until the next day or a resume.
            if daily { try await store.budgets.pause(agent, day: Budgets.day(), reason: refusal) }
            throw AgentError.budgetExceeded(refusal)
        }
        // From 80 % of a daily limit (counting this call's worst case), the operator hears once a day.
        if share >= 0.8, budget.warnedDay != Budgets.day() {
            try await store.budgets.warn(
                agent,
                day: Budgets.day(),
                payload: [
                    "agent": .string(agent), "share": .double((share * 1000).rounded() / 1000),
                    "used_tokens_today": .int(usedTokens), "used_cost_today_usd": .double(usedCost),
                    "tokens_per_day": .int(limits.tokensPerDay), "cost_per_day_usd": .double(limits.costPerDayUSD),
                ]
            )
        }
        return Reservation(agent: agent, tokens: tokens, cost: cost, tasks: lineage.map { $0.id.rawValue })
    }

    /// Holds `tokens` and `cost` against each task of `lineage` (a task, then its ancestors), or says which
    /// limit the call would break and holds nothing.
    private func reserveForTasks(_ lineage: [TaskRecord], tokens: Int, cost: Double) -> String? {
        reservedByTask.withLock { reserved in
            for (level, task) in lineage.enumerated() {
                let held = reserved[task.id.rawValue] ?? (0, 0)
                let whose = level == 0 ? "task \(task.id)" : "its ancestor task \(task.id)"
                if task.maxTokens > 0, task.tokens + held.tokens + tokens > task.maxTokens {
                    return
                        "\(whose) would use up to \(task.tokens + held.tokens + tokens) tokens (it has spent \(task.tokens)); its limit is \(task.maxTokens)"
                }
                if task.maxCostUSD > 0, task.costUSD + held.cost + cost > task.maxCostUSD {
                    return String(
                        format: "%@ would spend up to $%.4f (it has spent $%.4f); its limit is $%.4f",
                        whose,
                        task.costUSD + held.cost + cost,
                        task.costUSD,
                        task.maxCostUSD
                    )
                }
            }
            for task in lineage {
                let held = reserved[task.id.rawValue] ?? (0, 0)
                reserved[task.id.rawValue] = (held.tokens + tokens, held.cost + cost)
            }
            return nil
        }
    }

    /// Releases a reservation once its call has been settled (or failed).
    public func release(_ reservation: Reservation) {
        reserved.withLock { reserved in
            let held = reserved[reservation.agent] ?? (0, 0)
            reserved[reservation.agent] = (
                max(0, held.tokens - reservation.tokens), max(0, held.cost - reservation.cost)
            )
        }
        reservedByTask.withLock { reserved in
            for task in reservation.tasks {
                let held = reserved[task] ?? (0, 0)
                let tokens = max(0, held.tokens - reservation.tokens)
                let cost = max(0, held.cost - reservation.cost)
                reserved[task] = tokens == 0 && cost <= 0 ? nil : (tokens, cost)
            }
        }
    }

    /// Keeps a paid call whose record the store refused, to record it once the store takes writes again (at the next
    /// reservation); until then it holds against its agent's daily limits like a call in flight. At most 1,024 are
    /// kept (the oldest beyond go unrecorded).
    func owe(_ charge: Spending.Charge) { owe([charge]) }

    /// The same for several; `keeping` writes the reserved file at once (a failure to is met again at the stop,
    /// ``keepOwed()``, which throws it).
    func owe(_ charges: [Spending.Charge], keeping: Bool = true) {
        owed.withLock { owed in
            owed += charges
            if owed.count > 1_024 { owed.removeFirst(owed.count - 1_024) }
            if keeping { _ = try? keep(owed) }
        }
        reserved.withLock { reserved in
            for charge in charges {
                let held = reserved[charge.agent] ?? (0, 0)
                reserved[charge.agent] = (held.tokens + charge.tokens, held.cost + charge.costUSD)
            }
        }
    }

    /// Records the calls ``owe(_:)`` kept, oldest first, until the store refuses one (kept for the next time). Each
    /// is taken before it is recorded, so two reservations at once never record one twice.
    func settleOwed() async {
        var settled = false
        while let charge = owed.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            do {
                try await store.spending.record(charge)
            } catch {
                owed.withLock { $0.insert(charge, at: 0) }
                break
            }
            settled = true
            release(Reservation(agent: charge.agent, tokens: charge.tokens, cost: charge.costUSD))
        }
        // The file follows: what was recorded leaves it (a failure to write it is met again at the stop).
        // (The flag first: with nothing owed and nothing kept, as for nearly every call, one lock more, no I/O.)
        guard settled || reserveHolds.withLock({ $0 }) && owed.withLock({ $0.isEmpty }) else { return }
        owed.withLock { owed in _ = try? keep(owed) }
    }

    /// Records one attempt that produced no message (failed, or cut on our side) as an `llm.call` event, with its
    /// tokens and cost added to the day (and to the task), atomically; `first` runs before (the prompt's write). A
    /// call the store does not take now (a full disk, a prompt it could not write, a run cancelled meanwhile) was
    /// still made: it is owed, recorded at the next settlement or kept over a stop, and the error thrown. Returns
    /// its cost.
    @discardableResult
    public func record(
        _ attempt: CallAttempt,
        agent: String,
        session: Session.ID?,
        task: TaskRecord.ID? = nil,
        after first: () async throws -> Void = {}
    ) async throws -> Double {
        let charge = charge(for: attempt, agent: agent, session: session, task: task)
        do {
            try await first()
            try await store.spending.record(charge)
        } catch {
            owe(charge)
            throw error
        }
        return charge.costUSD
    }

    /// What `attempt` costs and the `llm.call` event that records it, for the store to settle, alone or with the
    /// message the call produced (``Sessions/Step``).
    func charge(
        for attempt: CallAttempt,
        agent: String,
        session: Session.ID?,
        task: TaskRecord.ID? = nil
    ) -> Spending.Charge {
        let cost = pricing(attempt.route)?.cost(attempt.usage) ?? 0
        var payload: [String: JSONValue] = [
            "provider": .string(attempt.route.provider), "model": .string(attempt.route.model),
            "tokens_in": .int(attempt.usage.inputTokens), "tokens_out": .int(attempt.usage.outputTokens),
            "cost_usd": .double(cost), "duration_ms": .int(attempt.durationMS),
            "outcome": .string(attempt.outcome.rawValue),
        ]
        if let error = attempt.error { payload["error"] = .string(error) }
        if let first = attempt.firstTokenMS { payload["first_token_ms"] = .int(first) }
        if attempt.usageEstimated { payload["usage_estimated"] = true }
        // The event's task is `task`, else the task this run is for (``EventDraft/currentTask``): the store
        // charges that task and its ancestors too.
        let draft = EventDraft(
            type: .llmCall,
            actor: .agent(agent),
            session: session,
            task: task,
            payload: .object(payload)
        )
        return Spending.Charge(
            agent: agent,
            tokens: attempt.usage.inputTokens + attempt.usage.outputTokens,
            costUSD: cost,
            event: draft
        )
    }
}

extension CallAttempt {
    /// A call cut on our side before the provider said what it used, with its prompt's size (`input`, estimated)
    /// as its usage: the prompt was sent, and is billed. Any other attempt as it is.
    func estimatingCut(input: Int) -> CallAttempt {
        guard outcome == .cancelled, usage == Usage() else { return self }
        var estimated = self
        estimated.usage = Usage(inputTokens: input, outputTokens: 0)
        estimated.usageEstimated = true
        return estimated
    }
}
