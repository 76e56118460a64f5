public import Foundation
public import OspreyCore

/// A seed interview: a goal, the clarifying questions asked about it in its session, the ambiguity score of the
/// last turn, and the seed it became.
public struct InterviewRecord: Hashable, Sendable {
    public typealias ID = Identifier<InterviewRecord>
    public enum Status: String, Hashable, Sendable {
        /// Waiting for the user's answer to `question`.
        case asking
        /// Done: the goal is the seed `seed`.
        case seeded
    }

    public var id: ID
    public var goal: String
    public var agent: String
    /// The session the interviewer's turns run in: the questions and answers, in order.
    public var session: Session.ID
    public var status: Status
    /// 0 (clear) to 1 (vague), from the last turn's scores.
    public var ambiguity: Double
    /// The last turn's rubric scores.
    public var scores: JSONValue
    public var question: String?
    /// Questions asked so far.
    public var turns: Int
    public var seed: SeedRecord.ID?
    public var createdAt: Date
    public var updatedAt: Date

    init(row: SQLRow) throws {
        id = ID(row["id"])
        goal = row["goal"]
        agent = row["agent"]
        session = Session.ID(row["session"])
        status = Status(rawValue: row["status"]) ?? .asking
        ambiguity = row["ambiguity"]
        scores = try JSONValue.parse(row["scores"] as String)
        question = row["question"]
        turns = row["turns"]
        seed = (row["seed"] as String?).map { SeedRecord.ID($0) }
        createdAt = WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        updatedAt = WireFormat.date(from: row["updated_at"]) ?? Date(timeIntervalSince1970: 0)
    }

    /// The API form.
    public var json: JSONValue {
        [
            "id": .string(id.rawValue), "goal": .string(goal), "agent": .string(agent),
            "session": .string(session.rawValue), "status": .string(status.rawValue), "ambiguity": .double(ambiguity),
            "scores": scores, "question": question.map(JSONValue.string) ?? .null, "turns": .int(turns),
            "seed": seed.map { .string($0.rawValue) } ?? .null,
            "created_at": .string(WireFormat.timestamp(createdAt)),
            "updated_at": .string(WireFormat.timestamp(updatedAt)),
        ]
    }
}

/// Seed interviews: each question commits with its `seed.question` event, the end with `seed.interviewed`.
public struct Interviews: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// Starts an interview of `goal` in `session`, or records its next turn: `question` asked (status `asking`) or,
    /// with `seed`, the interview's end.
    public func record(
        _ id: InterviewRecord.ID?,
        goal: String,
        agent: String,
        session: Session.ID,
        ambiguity: Double,
        scores: JSONValue,
        question: String?,
        seed: SeedRecord.ID?,
        actor: Principal
    ) async throws -> InterviewRecord {
        let now = WireFormat.timestamp(Date())
        let id = id ?? InterviewRecord.ID.random(prefix: "itv")
        let status: InterviewRecord.Status = seed == nil ? .asking : .seeded
        return try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO interviews (id, goal, agent, session, status, ambiguity, scores, question, turns, seed,
                    created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET status = excluded.status, ambiguity = excluded.ambiguity,
                    scores = excluded.scores, question = excluded.question, seed = excluded.seed,
                    turns = interviews.turns + excluded.turns, updated_at = excluded.updated_at
                """,
                [
                    id.rawValue, goal, agent, session.rawValue, status.rawValue, ambiguity, scores.canonicalJSON,
                    question,
                    question == nil ? 0 : 1, seed?.rawValue, now, now,
                ]
            )
            let record = try Self.fetch(id, in: db)
            var payload: [String: JSONValue] = [
                "interview": .string(id.rawValue), "ambiguity": .double(ambiguity), "scores": scores,
                "turn": .int(record.turns),
            ]
            if let question { payload["question"] = .string(question) }
            if let seed { payload["seed"] = .string(seed.rawValue) }
            _ = try ledger.append(
                [
                    EventDraft(
                        type: seed == nil ? .seedQuestion : .seedInterviewed,
                        actor: actor,
                        session: session,
                        payload: .object(payload)
                    )
                ],
                in: db
            )
            return record
        }
    }

    static func fetch(_ id: InterviewRecord.ID, in db: SQLConnection) throws -> InterviewRecord {
        guard
            let row = try db.row("SELECT * FROM interviews WHERE id = ?", [id.rawValue])
        else { throw StoreError.notFound(kind: "interview", id: id.rawValue) }
        return try InterviewRecord(row: row)
    }

    public func get(_ id: InterviewRecord.ID) async throws -> InterviewRecord {
        try await writer.read { db in try Self.fetch(id, in: db) }
    }
}
