public import Foundation
public import OspreyCore

/// What each agent spends on model calls: tokens and cost per UTC day (the daily budget's ground truth),
/// settled with each call's `llm.call` event.
///
/// Not named `Usage`: that is the token count of one model reply, in `OspreyCore`.
public struct Spending: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// Tokens and cost added up.
    public struct Total: Hashable, Sendable {
        public var tokens: Int
        public var costUSD: Double

        public init(tokens: Int = 0, costUSD: Double = 0) {
            self.tokens = tokens
            self.costUSD = costUSD
        }
    }

    /// One settled model call: its `llm.call` event, and the tokens and cost it adds to the agent's day and to
    /// the task the event names (with the task's ancestors).
    public struct Charge: Sendable {
        public var agent: String
        public var tokens: Int
        public var costUSD: Double
        public var event: EventDraft

        public init(agent: String, tokens: Int, costUSD: Double, event: EventDraft) {
            self.agent = agent
            self.tokens = tokens
            self.costUSD = costUSD
            self.event = event
        }

        /// The charge as JSON, to keep it outside the store until the store takes it (``init(json:)`` reads it).
        public var json: JSONValue {
            var draft: [String: JSONValue] = [
                "type": .string(event.type.rawValue), "actor": .string(event.actor.rawValue), "payload": event.payload,
            ]
            if let session = event.session { draft["session"] = .string(session.rawValue) }
            if let task = event.task { draft["task"] = .string(task.rawValue) }
            return [
                "agent": .string(agent), "tokens": .int(tokens), "cost_usd": .double(costUSD), "event": .object(draft),
            ]
        }

        public init?(json: JSONValue) {
            guard let agent = json["agent"]?.stringValue, let tokens = json["tokens"]?.intValue,
                let cost = json["cost_usd"]?.doubleValue, let draft = json["event"],
                let type = draft["type"]?.stringValue, let actor = draft["actor"]?.stringValue
            else { return nil }
            self.init(
                agent: agent,
                tokens: tokens,
                costUSD: cost,
                event: EventDraft(
                    type: Event.Kind(rawValue: type),
                    actor: Principal(rawValue: actor),
                    session: draft["session"]?.stringValue.map { Session.ID($0) },
                    task: draft["task"]?.stringValue.map { BackgroundTask.ID($0) },
                    payload: draft["payload"] ?? [:]
                )
            )
        }
    }

    /// `charges` as bytes to keep outside the store (the cost of calls a full disk would not let it record, kept over
    /// a stop), sealed with the ledger's key: ``unsealed(_:)`` takes back only what this home wrote.
    public func sealed(_ charges: [Charge]) -> [UInt8] {
        let body = JSONValue.array(charges.map(\.json)).canonicalBytes
        return JSONValue.object([
            "charges": .string(String(decoding: body, as: UTF8.self)),
            "mac": .string(ledger.signer.seal(body, purpose: "owed-charges")),
        ]).canonicalBytes
    }

    /// The charges ``sealed(_:)`` wrote; refused when the bytes are not sealed with this ledger's key, or hold
    /// anything but model calls.
    public func unsealed(_ bytes: [UInt8]) throws -> [Charge] {
        let sealed = try JSONValue.parse(bytes)
        guard let body = sealed["charges"]?.stringValue.map({ Array($0.utf8) }), let mac = sealed["mac"]?.stringValue,
            ledger.signer.isSealed(body, purpose: "owed-charges", by: mac)
        else { throw StoreError.invalid("the kept charges are not sealed with this ledger's key") }
        guard case .array(let items) = try JSONValue.parse(body) else {
            throw StoreError.invalid("the kept charges are not a list")
        }
        let charges = items.compactMap(Charge.init(json:))
        guard charges.count == items.count, charges.allSatisfy({ $0.event.type == .llmCall }) else {
            throw StoreError.invalid("the kept charges hold something other than model calls")
        }
        return charges
    }

    /// The UTC day `date` counts against, as stored: `YYYY-MM-DD`.
    static func day(_ date: Date = Date()) -> String { String(WireFormat.timestamp(date).prefix(10)) }

    /// What `agent` has spent today (UTC).
    public func today(agent: String) async throws -> Total {
        let day = Self.day()
        return try await writer.readBounded { db in
            let row = try db.row(
                "SELECT \(Self.bounded("tokens", db.dialect)) AS tokens, cost_usd FROM usage_daily WHERE agent = ? AND day = ?",
                [agent, day]
            )
            return Total(tokens: row?["tokens"] ?? 0, costUSD: row?["cost_usd"] ?? 0)
        }
    }

    /// One agent's spending on one UTC day.
    public struct Day: Hashable, Sendable {
        public var day: String
        public var agent: String
        public var total: Total
    }

    /// Every agent's spending per day over the last `days` UTC days (today included), oldest first.
    public func daily(days: Int, now: Date = Date()) async throws -> [Day] {
        let first = Self.day(now.addingTimeInterval(-Double(max(days - 1, 0)) * 86_400))
        return try await writer.read { db in
            try db.rows(
                """
                SELECT agent, day, \(Self.bounded("tokens", db.dialect)) AS tokens, cost_usd FROM usage_daily
                WHERE day >= ? ORDER BY day, agent
                """,
                [first]
            ).map { row in
                Day(day: row["day"], agent: row["agent"], total: Total(tokens: row["tokens"], costUSD: row["cost_usd"]))
            }
        }
    }

    /// One model's spending on one UTC day, from the `llm.call` events.
    public struct ModelDay: Hashable, Sendable {
        public var day: String
        public var model: String
        public var total: Total
    }

    /// Every model's spending per day over the last `days` UTC days, oldest first: summed from the ledger's
    /// `llm.call` events (through the type index), which name the provider and model of each call.
    public func dailyByModel(days: Int, now: Date = Date()) async throws -> [ModelDay] {
        let first = Self.day(now.addingTimeInterval(-Double(max(days - 1, 0)) * 86_400))
        return try await writer.read { db in
            try db.rows(Self.byModel(db.dialect), [first]).map { row in
                ModelDay(
                    day: row["day"],
                    model: row["model"],
                    total: Total(tokens: row["tokens"], costUSD: row["cost_usd"])
                )
            }
        }
    }

    /// `expression` (NULL as 0) held to 0…`limit`. A count from before providers' usage was range-checked (an
    /// older ledger may hold 2^63 from a hostile server, and SQLite a day's total that overflowed into a REAL) must
    /// neither overflow a sum nor stop a read.
    static func bounded(_ expression: String, _ dialect: SQLDialect, limit: Int = 1_000_000_000_000_000) -> String {
        dialect == .sqlite
            ? "min(max(coalesce(\(expression), 0), 0), \(limit))"
            : "LEAST(GREATEST(coalesce(\(expression), 0), 0), \(limit))"
    }

    /// The query that sums `llm.call` events per day and model: the payload is JSON text on both engines. Each
    /// call's counts are held to what a provider may report (`ReportedUsage`'s 100,000,000).
    static func byModel(_ dialect: SQLDialect) -> String {
        let perCall = 100_000_000
        func field(_ name: String) -> String {
            dialect == .sqlite ? "json_extract(payload, '$.\(name)')" : "(payload::jsonb ->> '\(name)')"
        }
        func number(_ name: String) -> String {
            dialect == .sqlite ? field(name) : "\(field(name))::double precision"
        }
        return """
            SELECT substr(ts, 1, 10) AS day,
                coalesce(\(field("provider")), '?') || '/' || coalesce(\(field("model")), '?') AS model,
                sum(\(bounded(number("tokens_in"), dialect, limit: perCall)) + \(bounded(number("tokens_out"), dialect, limit: perCall)))
                    AS tokens,
                sum(coalesce(\(number("cost_usd")), 0)) AS cost_usd
            FROM events WHERE type = 'llm.call' AND ts >= ?
            GROUP BY day, model ORDER BY day, model
            """
    }

    /// Records `charge` in a transaction of its own.
    public func record(_ charge: Charge) async throws {
        try await writer.transaction { db in try record(charge, in: db) }
    }

    /// The same, inside a transaction the caller holds: the event, the task's spending and the day's, together.
    func record(_ charge: Charge, in db: SQLConnection) throws {
        _ = try ledger.append([charge.event], in: db)
        // The task (and its ancestors) spent it too, committed with the call so a crash cannot lose it.
        if let task = charge.event.task {
            try Tasks.spend(task, tokens: charge.tokens, costUSD: charge.costUSD, in: db)
        }
        if charge.tokens > 0 || charge.costUSD > 0 {
            try db.execute(
                """
                INSERT INTO usage_daily (agent, day, tokens, cost_usd) VALUES (?, ?, ?, ?)
                ON CONFLICT(agent, day) DO UPDATE SET tokens = usage_daily.tokens + excluded.tokens,
                    cost_usd = usage_daily.cost_usd + excluded.cost_usd
                """,
                [charge.agent, Self.day(), charge.tokens, charge.costUSD]
            )
        }
    }
}
