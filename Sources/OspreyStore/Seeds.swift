public import Foundation
public import OspreyCore

/// A stored seed: one generation of a lineage, immutable, with the SHA-256 of its canonical JSON.
public struct SeedRecord: Hashable, Sendable {
    public typealias ID = Identifier<SeedRecord>

    public var id: ID
    /// The first generation's id: every generation of one specification shares it.
    public var lineage: ID
    public var generation: Int
    public var parent: ID?
    public var document: SeedDocument
    public var sha256: String
    /// What changed from the parent and why (nil for the first generation).
    public var changes: String?
    public var createdAt: Date

    init(row: SQLRow) throws {
        id = ID(row["id"])
        lineage = ID(row["lineage"])
        generation = row["generation"]
        parent = (row["parent"] as String?).map { ID($0) }
        document = try SeedDocument(try JSONValue.parse(row["document"] as String))
        sha256 = row["sha256"]
        changes = row["changes"]
        createdAt = WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
    }

    /// The API form.
    public var json: JSONValue {
        [
            "id": .string(id.rawValue), "lineage": .string(lineage.rawValue), "generation": .int(generation),
            "parent": parent.map { .string($0.rawValue) } ?? .null, "document": document.json,
            "sha256": .string(sha256), "changes": changes.map(JSONValue.string) ?? .null,
            "created_at": .string(WireFormat.timestamp(createdAt)),
        ]
    }
}

/// Seeds: each generation is written once with its `seed.created` event, and never changed.
public struct Seeds: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// Stores a first generation (a new lineage), or the next generation of `parent`, which must be its lineage's
    /// latest; `changes` says what changed and why.
    public func create(
        _ document: SeedDocument,
        evolving parent: SeedRecord.ID? = nil,
        changes: String? = nil,
        actor: Principal
    ) async throws -> SeedRecord {
        let canonical = document.json.canonicalJSON
        let digest = Event.sha256Hex(canonical)
        let id = SeedRecord.ID.random(prefix: "seed")
        return try await writer.transaction { db in
            var lineage = id
            var generation = 1
            if let parent {
                let row = try db.row("SELECT lineage, generation FROM seeds WHERE id = ?", [parent.rawValue])
                guard let row else { throw StoreError.notFound(kind: "seed", id: parent.rawValue) }
                lineage = SeedRecord.ID(row["lineage"])
                let latest =
                    try db.value(Int.self, "SELECT MAX(generation) FROM seeds WHERE lineage = ?", [lineage.rawValue])
                    ?? 0
                guard (row["generation"] as Int) == latest else {
                    throw StoreError.conflict(
                        "seed \(parent.rawValue) is generation \(row["generation"] as Int); the latest is \(latest)"
                    )
                }
                generation = latest + 1
                guard changes?.isEmpty == false else {
                    throw StoreError.invalid("a new generation says what changed and why")
                }
            }
            try db.execute(
                """
                INSERT INTO seeds (id, lineage, generation, parent, document, sha256, changes, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    id.rawValue, lineage.rawValue, generation, parent?.rawValue, canonical, digest, changes,
                    WireFormat.timestamp(Date()),
                ]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .seedCreated,
                        actor: actor,
                        payload: [
                            "id": .string(id.rawValue), "lineage": .string(lineage.rawValue),
                            "generation": .int(generation), "sha256": .string(digest),
                            "parent": parent.map { .string($0.rawValue) } ?? .null,
                        ]
                    )
                ],
                in: db
            )
            return try Self.fetch(id, in: db)
        }
    }

    static func fetch(_ id: SeedRecord.ID, in db: SQLConnection) throws -> SeedRecord {
        guard
            let row = try db.row("SELECT * FROM seeds WHERE id = ?", [id.rawValue])
        else { throw StoreError.notFound(kind: "seed", id: id.rawValue) }
        return try SeedRecord(row: row)
    }

    public func get(_ id: SeedRecord.ID) async throws -> SeedRecord {
        try await writer.read { db in try Self.fetch(id, in: db) }
    }

    /// The latest generation of each lineage, newest first.
    public func latest(limit: Int = 100) async throws -> [SeedRecord] {
        try await writer.read { db in
            try db.rows(
                """
                SELECT s.* FROM seeds s WHERE s.generation = (SELECT MAX(generation) FROM seeds WHERE lineage = s.lineage)
                ORDER BY s.created_at DESC, s.id LIMIT ?
                """,
                [limit]
            ).map(SeedRecord.init(row:))
        }
    }

    /// Every generation of the seed's lineage, first to last.
    public func lineage(of id: SeedRecord.ID) async throws -> [SeedRecord] {
        try await writer.read { db in
            let seed = try Self.fetch(id, in: db)
            return try db.rows("SELECT * FROM seeds WHERE lineage = ? ORDER BY generation", [seed.lineage.rawValue])
                .map(SeedRecord.init(row:))
        }
    }
}
