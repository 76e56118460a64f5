public import Foundation
public import OspreyCore

/// A tool call that needed a human, as stored and shown over the API: the policy's request (its arguments
/// redacted) and what became of it.
@dynamicMemberLookup
public struct Approval: Hashable, Decodable, Sendable, SQLRecord {
    public typealias ID = Identifier<Approval>
    public var id: ID
    public var request: ApprovalRequest
    public var status: ApprovalStatus
    /// Set when granted.
    public var scope: ApprovalScope?
    public var createdAt: Date
    public var expiresAt: Date
    public var decidedAt: Date?
    public var decidedBy: String?

    public subscript<Value>(dynamicMember field: KeyPath<ApprovalRequest, Value>) -> Value { request[keyPath: field] }

    private enum CodingKeys: String, CodingKey {
        case id, status, scope
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case decidedAt = "decided_at"
        case decidedBy = "decided_by"
    }

    /// The request's columns sit beside the approval's own in one row.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(ID.self, forKey: .id)
        request = try ApprovalRequest(from: decoder)
        status = try container.decode(ApprovalStatus.self, forKey: .status)
        scope = try container.decodeIfPresent(ApprovalScope.self, forKey: .scope)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        expiresAt = try container.decode(Date.self, forKey: .expiresAt)
        decidedAt = try container.decodeIfPresent(Date.self, forKey: .decidedAt)
        decidedBy = try container.decodeIfPresent(String.self, forKey: .decidedBy)
    }

    /// The API and event form.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id.rawValue), "agent": .string(request.agent),
            "session": request.session.map { .string($0.rawValue) } ?? .null,
            "call_id": .string(request.callID), "tool": .string(request.tool), "arguments": .string(request.arguments),
            "arguments_hash": .string(request.argumentsHash), "risk": .string(request.risk.rawValue),
            "rule": .string(request.rule), "reason": .string(request.reason), "status": .string(status.rawValue),
            "scope": scope.map { .string($0.rawValue) } ?? .null,
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
    let writer: GroupCommit
    let ledger: Ledger

    /// The bus the approvals' events are published on: a run waiting for a decision hears of one made by another
    /// gateway on the same database (its feed publishes it here).
    public var bus: EventBus { ledger.bus }

    /// What a new approval is about: the request the policy made.
    public typealias Draft = ApprovalRequest

    /// Stores a pending approval that expires after `lifetime`, with its `approval.requested` event.
    public func request(_ draft: Draft, lifetime: TimeInterval, now: Date = Date()) async throws -> Approval {
        let id = Approval.ID.random(prefix: "apr")
        let arguments = ledger.redactor.redact(draft.arguments)
        return try await change(id) { db in
            try db.execute(
                """
                INSERT INTO approvals (id, agent, session, call_id, tool, arguments, arguments_hash, risk, rule,
                    reason, status, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
                """,
                [
                    id.rawValue, draft.agent, draft.session?.rawValue, draft.callID, draft.tool, arguments,
                    draft.argumentsHash,
                    draft.risk.rawValue, draft.rule, draft.reason, WireFormat.timestamp(now),
                    WireFormat.timestamp(now.addingTimeInterval(lifetime)),
                ]
            )
            return (.approvalRequested, .agent(draft.agent))
        }
    }

    /// A human's decision: grant (`once` or `session`) or deny. Refused unless the approval is pending and
    /// not past its expiry (an expired one is marked expired).
    public func decide(
        _ id: Approval.ID,
        grant: Bool,
        scope: ApprovalScope = .once,
        by actor: Principal,
        now: Date = Date()
    ) async throws -> Approval {
        try await change(id) { db in
            let current = try Self.fetch(id, in: db)
            guard current.status == .pending else {
                throw StoreError.conflict("approval \(id.rawValue) is already \(current.status)")
            }
            if current.expiresAt <= now {
                try Self.setStatus(id, .expired, in: db)
                return (.approvalExpired, .system)
            }
            try db.execute(
                "UPDATE approvals SET status = ?, scope = ?, decided_at = ?, decided_by = ? WHERE id = ?",
                [
                    grant ? ApprovalStatus.granted : .denied, grant ? scope : nil, WireFormat.timestamp(now),
                    actor.rawValue, id.rawValue,
                ]
            )
            return (grant ? .approvalGranted : .approvalDenied, actor)
        }
    }

    /// Settles an approval the policy waited on: a pending one expires; a once-grant is used up (it can never
    /// allow a second call). Returns the final record.
    public func settle(_ id: Approval.ID) async throws -> Approval {
        try await change(id) { db in
            let current = try Self.fetch(id, in: db)
            switch (current.status, current.scope) {
            case (.pending, _):
                try Self.setStatus(id, .expired, in: db)
                return (.approvalExpired, .system)
            case (.granted, .once):
                try Self.setStatus(id, .used, in: db)
                return (.approvalUsed, .system)
            default:
                return nil
            }
        }
    }

    /// A standing session grant for exactly this tool and these arguments in this session, if any.
    public func sessionGrant(session: Session.ID, tool: String, argumentsHash: String) async throws -> Approval? {
        try writer.readHere { db in
            try db.record(
                Approval.self,
                """
                SELECT * FROM approvals WHERE session = ? AND tool = ? AND arguments_hash = ?
                    AND status = 'granted' AND scope = 'session' LIMIT 1
                """,
                [session.rawValue, tool, argumentsHash]
            )
        }
    }

    /// Expires every pending approval: at start-up, when no run is left waiting for them. With `before`, only
    /// those whose lifetime ended before it (on a database other gateways share, a pending approval within its
    /// lifetime may be a run of theirs waiting).
    public func expireAllPending(before: Date? = nil) async throws -> Int {
        let pending = try await list(status: .pending).filter { approval in
            before.map { approval.expiresAt < $0 } ?? true
        }
        for approval in pending { _ = try await settle(approval.id) }
        return pending.count
    }

    /// One approval; ``StoreError/notFound(kind:id:)`` for an unknown id.
    public func get(_ id: Approval.ID) async throws -> Approval {
        try writer.readHere { db in try Self.fetch(id, in: db) }
    }

    /// How many requests wait for a human now.
    public func pendingCount() async throws -> Int {
        try writer.readHere { db in
            try db.value(Int.self, "SELECT COUNT(*) FROM approvals WHERE status = 'pending'") ?? 0
        }
    }

    /// Approvals, newest first, optionally of one status.
    public func list(status: ApprovalStatus? = nil, limit: Int = 200) async throws -> [Approval] {
        try writer.readHere { db in
            if let status {
                return try db.records(
                    Approval.self,
                    "SELECT * FROM approvals WHERE status = ? ORDER BY created_at DESC, id LIMIT ?",
                    [status, limit]
                )
            }
            return try db.records(
                Approval.self,
                "SELECT * FROM approvals ORDER BY created_at DESC, id LIMIT ?",
                [limit]
            )
        }
    }

    static func fetch(_ id: Approval.ID, in db: SQLConnection) throws -> Approval {
        guard
            let approval = try db.record(Approval.self, "SELECT * FROM approvals WHERE id = ?", [id.rawValue])
        else {
            throw StoreError.notFound(kind: "approval", id: id.rawValue)
        }
        return approval
    }

    static func setStatus(_ id: Approval.ID, _ status: ApprovalStatus, in db: SQLConnection) throws {
        try db.execute(
            "UPDATE approvals SET status = ? WHERE id = ?",
            [
                status, id.rawValue,
            ]
        )
    }

    /// Runs `body` in one immediate transaction; the event it names (if any) is appended with the record's new state.
    func change(
        _ id: Approval.ID,
        _ body: @escaping @Sendable (SQLConnection) throws -> (type: Event.Kind, actor: Principal)?
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
