public import Foundation
public import OspreyCore

/// An incident: a troubleshooting record with its steps.
public struct IncidentRecord: Hashable, Sendable {
    public typealias ID = Identifier<IncidentRecord>
    public static let kinds = ["observation", "hypothesis", "action", "result"]
    public static let severities = ["low", "medium", "high", "critical"]

    public struct Step: Hashable, Sendable {
        public var n: Int
        public var kind: String
        public var text: String
        /// Ledger events the step points at.
        public var events: [Int]
        public var command: String?
        public var actor: String
        public var createdAt: Date

        var json: JSONValue {
            [
                "n": .int(n), "kind": .string(kind), "text": .string(text), "events": .array(events.map(JSONValue.int)),
                "command": command.map(JSONValue.string) ?? .null, "actor": .string(actor),
                "created_at": .string(WireFormat.timestamp(createdAt)),
            ]
        }
    }

    public var id: ID
    public var title: String
    public var severity: String
    public var status: String
    public var summary: String?
    public var actor: String
    public var createdAt: Date
    public var resolvedAt: Date?
    public var steps: [Step]

    public var json: JSONValue {
        [
            "id": .string(id.rawValue), "title": .string(title), "severity": .string(severity),
            "status": .string(status), "summary": summary.map(JSONValue.string) ?? .null, "actor": .string(actor),
            "created_at": .string(WireFormat.timestamp(createdAt)),
            "resolved_at": resolvedAt.map { .string(WireFormat.timestamp($0)) } ?? .null,
            "steps": .array(steps.map(\.json)),
        ]
    }
}

/// Incidents and their steps; each change commits with its `incident.*` event.
public struct Incidents: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    public func create(title: String, severity: String, actor: Principal) async throws -> IncidentRecord {
        guard IncidentRecord.severities.contains(severity) else {
            throw StoreError.invalid("severity must be \(IncidentRecord.severities.joined(separator: ", "))")
        }
        let id = IncidentRecord.ID.random(prefix: "inc")
        return try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO incidents (id, title, severity, status, actor, created_at) VALUES (?, ?, ?, 'open', ?, ?)
                """,
                [id.rawValue, title, severity, actor.rawValue, WireFormat.timestamp(Date())]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .incidentCreated,
                        actor: actor,
                        payload: [
                            "incident": .string(id.rawValue), "title": .string(title), "severity": .string(severity),
                        ]
                    )
                ],
                in: db
            )
            return try Self.fetch(id, in: db)
        }
    }

    /// Adds a step to an open incident; `events` must be seqs the ledger holds.
    public func step(
        _ id: IncidentRecord.ID,
        kind: String,
        text: String,
        events: [Int],
        command: String?,
        actor: Principal
    ) async throws -> IncidentRecord {
        guard IncidentRecord.kinds.contains(kind) else {
            throw StoreError.invalid("kind must be \(IncidentRecord.kinds.joined(separator: ", "))")
        }
        return try await writer.transaction { db in
            let current = try Self.fetch(id, in: db)
            guard current.status == "open" else { throw StoreError.conflict("incident \(id.rawValue) is resolved") }
            let last = try db.value(Int.self, "SELECT max(seq) FROM events") ?? 0
            if let unknown = events.first(where: { $0 < 1 || $0 > last }) {
                throw StoreError.invalid("the ledger has no event \(unknown)")
            }
            let n = current.steps.count + 1
            try db.execute(
                """
                INSERT INTO incident_steps (incident, n, kind, text, events, command, actor, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    id.rawValue, n, kind, text, JSONValue.array(events.map(JSONValue.int)).canonicalJSON, command,
                    actor.rawValue, WireFormat.timestamp(Date()),
                ]
            )
            var payload: [String: JSONValue] = [
                "incident": .string(id.rawValue), "n": .int(n), "kind": .string(kind), "text": .string(text),
                "events": .array(events.map(JSONValue.int)),
            ]
            if let command { payload["command"] = .string(command) }
            _ = try ledger.append([EventDraft(type: .incidentStep, actor: actor, payload: .object(payload))], in: db)
            return try Self.fetch(id, in: db)
        }
    }

    public func resolve(_ id: IncidentRecord.ID, summary: String, actor: Principal) async throws -> IncidentRecord {
        try await writer.transaction { db in
            try db.execute(
                "UPDATE incidents SET status = 'resolved', summary = ?, resolved_at = ? WHERE id = ? AND status = 'open'",
                [summary, WireFormat.timestamp(Date()), id.rawValue]
            )
            guard db.changesCount == 1 else {
                _ = try Self.fetch(id, in: db)
                throw StoreError.conflict("incident \(id.rawValue) is already resolved")
            }
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .incidentResolved,
                        actor: actor,
                        payload: ["incident": .string(id.rawValue), "summary": .string(summary)]
                    )
                ],
                in: db
            )
            return try Self.fetch(id, in: db)
        }
    }

    public func get(_ id: IncidentRecord.ID) async throws -> IncidentRecord {
        try await writer.read { db in try Self.fetch(id, in: db) }
    }

    /// The newest first.
    public func list(limit: Int = 100) async throws -> [IncidentRecord] {
        try await writer.read { db in
            try db.values(String.self, "SELECT id FROM incidents ORDER BY created_at DESC, id DESC LIMIT ?", [limit])
                .map { try Self.fetch(IncidentRecord.ID($0), in: db) }
        }
    }

    static func fetch(_ id: IncidentRecord.ID, in db: SQLConnection) throws -> IncidentRecord {
        guard
            let row = try db.row("SELECT * FROM incidents WHERE id = ?", [id.rawValue])
        else { throw StoreError.notFound(kind: "incident", id: id.rawValue) }
        let steps = try db.rows("SELECT * FROM incident_steps WHERE incident = ? ORDER BY n", [id.rawValue]).map {
            step in
            IncidentRecord.Step(
                n: step["n"],
                kind: step["kind"],
                text: step["text"],
                events: (try? JSONValue.parse(step["events"] as String))?.arrayValue?.compactMap(\.intValue) ?? [],
                command: step["command"],
                actor: step["actor"],
                createdAt: WireFormat.date(from: step["created_at"]) ?? Date(timeIntervalSince1970: 0)
            )
        }
        return IncidentRecord(
            id: id,
            title: row["title"],
            severity: row["severity"],
            status: row["status"],
            summary: row["summary"],
            actor: row["actor"],
            createdAt: WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0),
            resolvedAt: (row["resolved_at"] as String?).flatMap(WireFormat.date(from:)),
            steps: steps
        )
    }
}
