public import Foundation
public import GRDB
public import OspreyCore

/// A tool call that needed a human, as stored and shown over the API.
public struct Approval: Hashable, Codable, Sendable {
    public typealias ID = Identifier<Approval>
    public var id: ID
    public var agent: String
    public var session: String?
    public var callID: String
    public var tool: String
    /// Redacted arguments, as the model wrote them.
    public var arguments: String
    public var argumentsHash: String
    public var risk: String
    public var rule: String
    public var reason: String
    /// `pending`, `granted`, `denied`, `expired` or `used` (a once-grant after its call ran).
    public var status: String
    /// `once` or `session` when granted.
    public var scope: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var decidedAt: Date?
    public var decidedBy: String?

    private enum CodingKeys: String, CodingKey {
        case id, agent, session, tool, arguments, risk, rule, reason, status, scope
        case callID = "call_id"
        case argumentsHash = "arguments_hash"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case decidedAt = "decided_at"
        case decidedBy = "decided_by"
    }

    init(row: Row) {
        id = ID(row["id"] as String)
        agent = row["agent"]
        session = row["session"]
        callID = row["call_id"]
        tool = row["tool"]
        arguments = row["arguments"]
        argumentsHash = row["arguments_hash"]
        risk = row["risk"]
        rule = row["rule"]
        reason = row["reason"]
        status = row["status"]
        scope = row["scope"]
        createdAt = WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        expiresAt = WireFormat.date(from: row["expires_at"]) ?? Date(timeIntervalSince1970: 0)
        decidedAt = (row["decided_at"] as String?).flatMap(WireFormat.date(from:))
        decidedBy = row["decided_by"]
    }

    /// The API and event form.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id.rawValue), "agent": .string(agent), "session": session.map(JSONValue.string) ?? .null,
            "call_id": .string(callID), "tool": .string(tool), "arguments": .string(arguments),
            "arguments_hash": .string(argumentsHash), "risk": .string(risk), "rule": .string(rule),
            "reason": .string(reason), "status": .string(status), "scope": scope.map(JSONValue.string) ?? .null,
            "created_at": .string(WireFormat.timestamp(createdAt)),
            "expires_at": .string(WireFormat.timestamp(expiresAt)),
        ]
        object["decided_at"] = decidedAt.map { .string(WireFormat.timestamp($0)) } ?? .null
        object["decided_by"] = decidedBy.map(JSONValue.string) ?? .null
        return .object(object)
    }
}

/// Approvals: requested by the policy, decided by a human, expired by time, consumed by the call they allow.
/// Every change commits with its `approval.*` event.
public struct Approvals: Sendable {
    let writer: any DatabaseWriter
    let ledger: Ledger

    /// What a new approval is about: the request the policy made.
    public typealias Draft = ApprovalRequest

    /// Stores a pending approval that expires after `lifetime`, with its `approval.requested` event.
    public func request(_ draft: Draft, lifetime: TimeInterval, now: Date = Date()) async throws -> Approval {
        let id = Approval.ID.random(prefix: "apr")
        let arguments = ledger.redactor.redact(draft.arguments)
        return try await change(id) { db in
            try db.execute(
                sql: """
                    INSERT INTO approvals (id, agent, session, call_id, tool, arguments, arguments_hash, risk, rule,
                        reason, status, created_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
                    """,
                arguments: [
                    id.rawValue, draft.agent, draft.session, draft.callID, draft.tool, arguments, draft.argumentsHash,
                    draft.risk.rawValue, draft.rule, draft.reason, WireFormat.timestamp(now),
                    WireFormat.timestamp(now.addingTimeInterval(lifetime)),
                ]
            )
            return ("approval.requested", "agent:\(draft.agent)")
        }
    }

    /// A human's decision: grant (`once` or `session`) or deny. Refused unless the approval is pending and
    /// not past its expiry (an expired one is marked expired).
    public func decide(
        _ id: Approval.ID,
        grant: Bool,
        scope: String = "once",
        by actor: String,
        now: Date = Date()
    ) async throws -> Approval {
        guard ["once", "session"].contains(scope) else { throw StoreError.invalid("scope must be once or session") }
        return try await change(id) { db in
            let current = try Self.fetch(id, in: db)
            guard current.status == "pending" else {
                throw StoreError.conflict("approval \(id.rawValue) is already \(current.status)")
            }
            if current.expiresAt <= now {
                try Self.setStatus(id, "expired", in: db)
                return ("approval.expired", "system")
            }
            try db.execute(
                sql: "UPDATE approvals SET status = ?, scope = ?, decided_at = ?, decided_by = ? WHERE id = ?",
                arguments: [
                    grant ? "granted" : "denied", grant ? scope : nil, WireFormat.timestamp(now), actor, id.rawValue,
                ]
            )
            return (grant ? "approval.granted" : "approval.denied", actor)
        }
    }

    /// Settles an approval the policy waited on: a pending one expires; a once-grant is used up (it can never
    /// allow a second call). Returns the final record.
    public func settle(_ id: Approval.ID) async throws -> Approval {
        try await change(id) { db in
            let current = try Self.fetch(id, in: db)
            switch (current.status, current.scope) {
            case ("pending", _):
                try Self.setStatus(id, "expired", in: db)
                return ("approval.expired", "system")
            case ("granted", "once"):
                try Self.setStatus(id, "used", in: db)
                return ("approval.used", "system")
            default:
                return nil
            }
        }
    }

    /// A standing session grant for exactly this tool and these arguments in this session, if any.
    public func sessionGrant(session: String, tool: String, argumentsHash: String) async throws -> Approval? {
        try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT * FROM approvals WHERE session = ? AND tool = ? AND arguments_hash = ?
                        AND status = 'granted' AND scope = 'session' LIMIT 1
                    """,
                arguments: [session, tool, argumentsHash]
            ).map(Approval.init(row:))
        }
    }

    /// Expires every pending approval: at start-up, when no run is left waiting for them.
    public func expireAllPending() async throws -> Int {
        let pending = try await list(status: "pending")
        for approval in pending { _ = try await settle(approval.id) }
        return pending.count
    }

    /// One approval; ``StoreError/notFound(kind:id:)`` for an unknown id.
    public func get(_ id: Approval.ID) async throws -> Approval {
        try await writer.read { db in try Self.fetch(id, in: db) }
    }

    /// Approvals, newest first, optionally of one status.
    public func list(status: String? = nil, limit: Int = 200) async throws -> [Approval] {
        try await writer.read { db in
            if let status {
                return try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM approvals WHERE status = ? ORDER BY created_at DESC, id LIMIT ?",
                    arguments: [status, limit]
                ).map(Approval.init(row:))
            }
            return try Row.fetchAll(
                db,
                sql: "SELECT * FROM approvals ORDER BY created_at DESC, id LIMIT ?",
                arguments: [limit]
            ).map(Approval.init(row:))
        }
    }

    static func fetch(_ id: Approval.ID, in db: Database) throws -> Approval {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [id.rawValue])
        else { throw StoreError.notFound(kind: "approval", id: id.rawValue) }
        return Approval(row: row)
    }

    static func setStatus(_ id: Approval.ID, _ status: String, in db: Database) throws {
        try db.execute(sql: "UPDATE approvals SET status = ? WHERE id = ?", arguments: [status, id.rawValue])
    }

    /// Runs `body` in one immediate transaction; the event it names (if any) is appended with the record's new state.
    func change(
        _ id: Approval.ID,
        _ body: @escaping @Sendable (Database) throws -> (type: String, actor: String)?
    ) async throws -> Approval {
        try await writer.transaction { db in
            let event = try body(db)
            let approval = try Self.fetch(id, in: db)
            if let event {
                _ = try ledger.append(
                    [
                        EventDraft(
                            type: event.type,
                            actor: event.actor,
                            session: approval.session,
                            task: try Tasks.id(ofSession: approval.session, in: db),
                            payload: approval.json
                        )
                    ],
                    in: db
                )
            }
            return approval
        }
    }
}
