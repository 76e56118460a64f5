public import Foundation
public import OspreyCore

/// An operator's change to an agent's budget, over what config.toml says (nil: config's value stands).
public struct BudgetOverride: Hashable, Sendable {
    public var tokensPerDay: Int?
    public var costPerDayUSD: Double?
    public var tokensPerRun: Int?
    public var costPerRunUSD: Double?

    public init(
        tokensPerDay: Int? = nil,
        costPerDayUSD: Double? = nil,
        tokensPerRun: Int? = nil,
        costPerRunUSD: Double? = nil
    ) {
        self.tokensPerDay = tokensPerDay
        self.costPerDayUSD = costPerDayUSD
        self.tokensPerRun = tokensPerRun
        self.costPerRunUSD = costPerRunUSD
    }

    public var isEmpty: Bool { self == BudgetOverride() }

    /// `limits` with this override's values in place of config's.
    public func applied(to limits: OspreyConfig.Agent) -> OspreyConfig.Agent {
        var limits = limits
        if let tokensPerDay { limits.tokensPerDay = tokensPerDay }
        if let costPerDayUSD { limits.costPerDayUSD = costPerDayUSD }
        if let tokensPerRun { limits.tokensPerRun = tokensPerRun }
        if let costPerRunUSD { limits.costPerRunUSD = costPerRunUSD }
        return limits
    }
}

/// Where an agent's budget stands: its override, and the UTC day it was warned (80 %) and paused (100 %) on.
public struct BudgetState: Hashable, Sendable {
    public var override = BudgetOverride()
    public var warnedDay: String?
    public var pausedDay: String?

    public init() {}
}

/// Budgets beyond config.toml: overrides an operator sets, the 80 % warning, and the pause at 100 %: the agent's
/// schedules stop firing (they are paused with a mark of their own, so resuming lifts only the budget's pauses)
/// until the next UTC day or an operator resumes them. Every change commits with its `budget.*` event.
public struct Budgets: Sendable {
    let writer: GroupCommit
    let ledger: Ledger
    /// The schedules' trigger cache: a pause or resume changes schedules.
    let schedules: ReadCache<[ScheduleRecord]>
    /// Every row, as last read: the meter asks before every model call, and the table changes rarely.
    private let cache = ReadCache<[String: BudgetState]>()

    init(writer: GroupCommit, ledger: Ledger, schedules: ReadCache<[ScheduleRecord]>) {
        self.writer = writer
        self.ledger = ledger
        self.schedules = schedules
    }

    /// The UTC day `date` counts against: `YYYY-MM-DD`.
    public static func day(_ date: Date = Date()) -> String { Spending.day(date) }

    /// The `paused` value of a schedule the budget paused (an operator's pause is 1).
    static let budgetPause = 2

    public func state(_ agent: String) async throws -> BudgetState {
        try await all()[agent] ?? BudgetState()
    }

    /// Every agent with a row (an override, a warning or a pause), by name; from the cache unless it changed.
    public func all() async throws -> [String: BudgetState] {
        let (cached, generation) = cache.current()
        if let cached { return cached }
        let loaded = try await writer.read { db in
            var states: [String: BudgetState] = [:]
            for row in try db.rows("SELECT * FROM budgets") {
                states[row["agent"]] = Self.state(row)
            }
            return states
        }
        cache.store(loaded, ifStill: generation)
        return loaded
    }

    static func state(_ row: SQLRow) -> BudgetState {
        var state = BudgetState()
        state.override = BudgetOverride(
            tokensPerDay: row["tokens_per_day"],
            costPerDayUSD: row["cost_per_day_usd"],
            tokensPerRun: row["tokens_per_run"],
            costPerRunUSD: row["cost_per_run_usd"]
        )
        state.warnedDay = row["warned_day"]
        state.pausedDay = row["paused_day"]
        return state
    }

    /// Sets (replaces) an agent's override; `budget.changed`.
    public func set(_ agent: String, _ override: BudgetOverride, actor: Principal) async throws {
        guard [override.tokensPerDay, override.tokensPerRun].allSatisfy({ ($0 ?? 0) >= 0 }),
            [override.costPerDayUSD, override.costPerRunUSD].allSatisfy({ ($0 ?? 0) >= 0 && ($0 ?? 0).isFinite })
        else { throw StoreError.invalid("budget limits must be 0 (no limit) or more") }
        try await cache.changing {
            try await writer.transaction { db in
                try db.execute(
                    """
                    INSERT INTO budgets (agent, tokens_per_day, cost_per_day_usd, tokens_per_run, cost_per_run_usd)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (agent) DO UPDATE SET tokens_per_day = excluded.tokens_per_day,
                        cost_per_day_usd = excluded.cost_per_day_usd, tokens_per_run = excluded.tokens_per_run,
                        cost_per_run_usd = excluded.cost_per_run_usd
                    """,
                    [
                        agent, override.tokensPerDay, override.costPerDayUSD, override.tokensPerRun,
                        override.costPerRunUSD,
                    ]
                )
                var payload: [String: JSONValue] = ["agent": .string(agent)]
                if let value = override.tokensPerDay { payload["tokens_per_day"] = .int(value) }
                if let value = override.costPerDayUSD { payload["cost_per_day_usd"] = .double(value) }
                if let value = override.tokensPerRun { payload["tokens_per_run"] = .int(value) }
                if let value = override.costPerRunUSD { payload["cost_per_run_usd"] = .double(value) }
                _ = try ledger.append(
                    [EventDraft(type: .budgetChanged, actor: actor, payload: .object(payload))],
                    in: db
                )
            }
        }
    }

    /// Sets the agent's `column` (`warned_day` or `paused_day`) to `day`, creating its row if need be; whether it
    /// changed (false: the mark was already there, so what it marks happened already that day).
    static func mark(_ column: String, of agent: String, day: String, in db: SQLConnection) throws -> Bool {
        precondition(["warned_day", "paused_day"].contains(column), "a budgets day column")
        try db.execute(
            """
            INSERT INTO budgets (agent, \(column)) VALUES (?, ?)
            ON CONFLICT (agent) DO UPDATE SET \(column) = excluded.\(column)
            WHERE budgets.\(column) IS NULL OR budgets.\(column) <> excluded.\(column)
            """,
            [agent, day]
        )
        return db.changesCount > 0
    }

    /// Records the 80 % warning once per agent and day; whether it was new.
    @discardableResult
    public func warn(_ agent: String, day: String, payload: [String: JSONValue]) async throws -> Bool {
        try await cache.changing {
            try await writer.transaction { db in
                guard try Self.mark("warned_day", of: agent, day: day, in: db) else { return false }
                _ = try ledger.append(
                    [EventDraft(type: .budgetWarning, actor: .agent(agent), payload: .object(payload))],
                    in: db
                )
                return true
            }
        }
    }

    /// Pauses the agent's schedules for the rest of `day` (once); `budget.paused`. Whether it was new.
    @discardableResult
    public func pause(_ agent: String, day: String, reason: String) async throws -> Bool {
        try await schedules.changing {
            try await cache.changing {
                try await writer.transaction { db in
                    guard try Self.mark("paused_day", of: agent, day: day, in: db) else { return false }
                    try db.execute(
                        "UPDATE schedules SET paused = ? WHERE agent = ? AND paused = 0",
                        [Self.budgetPause, agent]
                    )
                    let schedules = db.changesCount
                    _ = try ledger.append(
                        [
                            EventDraft(
                                type: .budgetPaused,
                                actor: .agent(agent),
                                payload: [
                                    "agent": .string(agent), "reason": .string(reason), "schedules": .int(schedules),
                                ]
                            )
                        ],
                        in: db
                    )
                    return true
                }
            }
        }
    }

    /// Lifts the budget's pause: the schedules it paused fire again; `budget.resumed`. How many schedules.
    @discardableResult
    public func resume(_ agent: String, actor: Principal) async throws -> Int {
        try await schedules.changing {
            try await cache.changing {
                try await writer.transaction { db in
                    try db.execute(
                        "UPDATE budgets SET paused_day = NULL WHERE agent = ?",
                        [
                            agent
                        ]
                    )
                    try db.execute(
                        "UPDATE schedules SET paused = 0 WHERE agent = ? AND paused = ?",
                        [agent, Self.budgetPause]
                    )
                    let schedules = db.changesCount
                    _ = try ledger.append(
                        [
                            EventDraft(
                                type: .budgetResumed,
                                actor: actor,
                                payload: ["agent": .string(agent), "schedules": .int(schedules)]
                            )
                        ],
                        in: db
                    )
                    return schedules
                }
            }
        }
    }

    /// Resumes every agent paused on a day before `today` (a new day, a new budget); the agents resumed.
    public func resumeExpired(today: String = Budgets.day()) async throws -> [String] {
        let expired = try await writer.read { db in
            try db.values(
                String.self,
                "SELECT agent FROM budgets WHERE paused_day IS NOT NULL AND paused_day < ?",
                [today]
            )
        }
        for agent in expired { try await resume(agent, actor: .system) }
        return expired
    }
}
