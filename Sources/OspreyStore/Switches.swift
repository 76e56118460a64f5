public import Foundation
public import OspreyCore

/// A SafeSwitch change as stored.
public struct SwitchRecord: Hashable, Sendable {
    public typealias ID = Identifier<SwitchRecord>
    public enum Status: String, Hashable, Sendable {
        /// Applied; health checks run until it is committed, rolled back, or its window ends.
        case probation
        case committed
        case rolledBack = "rolled_back"
    }

    public var id: ID
    public var status: Status
    public var plan: JSONValue
    public var actor: String
    public var createdAt: Date
    public var expiresAt: Date
    public var endedAt: Date?
    /// Why it ended (and, for a rollback, what the checks said after it).
    public var outcome: JSONValue?

    init(row: SQLRow) throws {
        id = ID(row["id"])
        status = Status(rawValue: row["status"]) ?? .probation
        plan = try JSONValue.parse(row["plan"] as String)
        actor = row["actor"]
        createdAt = WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        expiresAt = WireFormat.date(from: row["expires_at"]) ?? Date(timeIntervalSince1970: 0)
        endedAt = (row["ended_at"] as String?).flatMap(WireFormat.date(from:))
        outcome = try (row["outcome"] as String?).map { try JSONValue.parse($0) }
    }

    public var json: JSONValue {
        [
            "id": .string(id.rawValue), "status": .string(status.rawValue), "plan": plan, "actor": .string(actor),
            "created_at": .string(WireFormat.timestamp(createdAt)),
            "expires_at": .string(WireFormat.timestamp(expiresAt)),
            "ended_at": endedAt.map { .string(WireFormat.timestamp($0)) } ?? .null, "outcome": outcome ?? .null,
        ]
    }
}

/// SafeSwitch changes: each step commits with its `switch.*` event.
public struct Switches: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// Records a change just applied, in probation until `expiresAt`.
    public func begin(
        _ id: SwitchRecord.ID,
        plan: JSONValue,
        expiresAt: Date,
        actor: Principal,
        now: Date = Date()
    ) async throws -> SwitchRecord {
        try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO switches (id, status, plan, actor, created_at, expires_at)
                VALUES (?, 'probation', ?, ?, ?, ?)
                """,
                [
                    id.rawValue, plan.canonicalJSON, actor.rawValue, WireFormat.timestamp(now),
                    WireFormat.timestamp(expiresAt),
                ]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .switchBegun,
                        actor: actor,
                        payload: [
                            "switch": .string(id.rawValue), "plan": plan,
                            "expires_at": .string(WireFormat.timestamp(expiresAt)),
                        ]
                    )
                ],
                in: db
            )
            return try Self.fetch(id, in: db)
        }
    }

    /// Records a round of health checks.
    public func checked(_ id: SwitchRecord.ID, healthy: Bool, results: JSONValue) async throws {
        try await ledger.append(
            EventDraft(
                type: .switchChecked,
                actor: .system,
                payload: ["switch": .string(id.rawValue), "healthy": .bool(healthy), "checks": results]
            )
        )
    }

    /// Ends a change in probation: committed or rolled back. Refused (a conflict) when it is not in probation, so
    /// a commit racing a rollback resolves one way only.
    public func end(
        _ id: SwitchRecord.ID,
        as status: SwitchRecord.Status,
        outcome: JSONValue,
        actor: Principal,
        now: Date = Date()
    ) async throws -> SwitchRecord {
        try await writer.transaction { db in
            try db.execute(
                "UPDATE switches SET status = ?, ended_at = ?, outcome = ? WHERE id = ? AND status = 'probation'",
                [status.rawValue, WireFormat.timestamp(now), outcome.canonicalJSON, id.rawValue]
            )
            guard db.changesCount == 1 else {
                let current = try Self.fetch(id, in: db)
                throw StoreError.conflict("switch \(id.rawValue) is already \(current.status.rawValue)")
            }
            var payload: [String: JSONValue] = ["switch": .string(id.rawValue)]
            for (key, value) in outcome.objectValue ?? [:] { payload[key] = value }
            _ = try ledger.append(
                [
                    EventDraft(
                        type: status == .committed ? .switchCommitted : .switchRolledBack,
                        actor: actor,
                        payload: .object(payload)
                    )
                ],
                in: db
            )
            return try Self.fetch(id, in: db)
        }
    }

    static func fetch(_ id: SwitchRecord.ID, in db: SQLConnection) throws -> SwitchRecord {
        guard
            let row = try db.row("SELECT * FROM switches WHERE id = ?", [id.rawValue])
        else { throw StoreError.notFound(kind: "switch", id: id.rawValue) }
        return try SwitchRecord(row: row)
    }

    public func get(_ id: SwitchRecord.ID) async throws -> SwitchRecord {
        try await writer.read { db in try Self.fetch(id, in: db) }
    }

    /// The newest changes first; only those in probation when `probation` is set.
    public func list(probation: Bool = false, limit: Int = 100) async throws -> [SwitchRecord] {
        try await writer.read { db in
            try db.rows(
                """
                SELECT * FROM switches WHERE (? = 0 OR status = 'probation')
                ORDER BY created_at DESC, id DESC LIMIT ?
                """,
                [probation, limit]
            ).map(SwitchRecord.init(row:))
        }
    }
}
