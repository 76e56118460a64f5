public import Foundation
public import OspreyCore

/// What an API token may do. Routes check the role; a token with no role is impossible.
public enum TokenRole: String, Hashable, Codable, Sendable, CaseIterable, Comparable {
    /// Reads only.
    case viewer
    /// Reads and acts (sessions, messages), but cannot manage tokens.
    case `operator`
    /// Everything.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (lhs: TokenRole, rhs: TokenRole) -> Bool { lhs.rank < rhs.rank }
}

/// An API token as stored: never the token itself, only its SHA-256 digest.
public struct TokenRecord: Hashable, Codable, Sendable, SQLRecord {
    public typealias ID = Identifier<TokenRecord>
    public var id: ID
    public var name: String
    public var role: TokenRole
    public var digest: String
    public var createdAt: Date
    public var revokedAt: Date?
    /// The agent this token acts for; nil for a human's token. Only human tokens may decide approvals.
    public var agent: String?
    /// After this instant the token opens nothing; nil for no expiry.
    public var expiresAt: Date?
    /// The route groups (`sessions`, `events`, `tasks`, ...) the token may reach; nil for all that its role allows.
    public var scopes: [String]?

    private enum CodingKeys: String, CodingKey {
        case id, name, role, agent, scopes
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
        case expiresAt = "expires_at"
    }

    /// Whether this token holds at least the authority of `other`: a token may only mint tokens it covers.
    public func covers(role: TokenRole, agent: String?, expiresAt: Date?, scopes: [String]?) -> Bool {
        guard role <= self.role else { return false }
        if let bound = self.agent, agent != bound { return false }
        if let limit = self.expiresAt {
            guard let expiresAt, expiresAt <= limit else { return false }
        }
        if let own = self.scopes {
            guard let scopes, Set(scopes).isSubset(of: own) else { return false }
        }
        return true
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(ID.self, forKey: .id)
        name = try container.decode(String.self, forKey: .name)
        role = try container.decode(TokenRole.self, forKey: .role)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        revokedAt = try container.decodeIfPresent(Date.self, forKey: .revokedAt)
        agent = try container.decodeIfPresent(String.self, forKey: .agent)
        expiresAt = try container.decodeIfPresent(Date.self, forKey: .expiresAt)
        scopes = try container.decodeIfPresent([String].self, forKey: .scopes)
        digest = ""
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(revokedAt, forKey: .revokedAt)
        try container.encode(agent, forKey: .agent)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(scopes, forKey: .scopes)
    }

    /// A principal that holds no stored token (a channel's sender): never written, only checked.
    public init(id: ID, name: String, role: TokenRole, agent: String?, scopes: [String]?) {
        self.id = id
        self.name = name
        self.role = role
        self.digest = ""
        self.createdAt = Date()
        self.agent = agent
        self.scopes = scopes
    }

    /// Decoded by hand, not through `Decodable`: that is the API's form (no digest, scopes as an array), while the
    /// table keeps the digest and the scopes comma-separated.
    public init(row: SQLRow) {
        id = ID(row["id"] as String)
        name = row["name"]
        role = TokenRole(rawValue: row["role"]) ?? .viewer
        digest = row["digest"]
        createdAt = WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        revokedAt = (row["revoked_at"] as String?).flatMap(WireFormat.date(from:))
        agent = row["agent"]
        expiresAt = (row["expires_at"] as String?).flatMap(WireFormat.date(from:))
        scopes = (row["scopes"] as String?).map { $0.split(separator: ",").map(String.init) }
    }
}

/// API tokens: created, listed, revoked; only digests are stored.
public struct Tokens: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// Registers the home's admin token (from the `token` file) if it is not known yet.
    public func registerHomeToken(_ token: String) async throws {
        let digest = Event.sha256Hex(token)
        try await writer.transaction { db in
            let known =
                try db.value(Bool.self, "SELECT 1 FROM tokens WHERE digest = ?", [digest])
                ?? false
            if !known {
                try db.execute(
                    "INSERT INTO tokens (id, name, role, digest, created_at) VALUES (?, 'home', 'admin', ?, ?)",
                    [
                        TokenRecord.ID.random(prefix: "tok").rawValue, digest, WireFormat.timestamp(Date()),
                    ]
                )
            }
        }
    }

    /// Creates a token; the plaintext is returned once and never stored.
    public func create(
        name: String,
        role: TokenRole,
        agent: String? = nil,
        expiresAt: Date? = nil,
        scopes: [String]? = nil,
        actor: Principal
    ) async throws -> (TokenRecord, String) {
        guard !name.isEmpty, name.count <= 64 else { throw StoreError.invalid("token name must be 1-64 characters") }
        if let agent, agent.isEmpty || agent.count > 64 {
            throw StoreError.invalid("agent name must be 1-64 characters")
        }
        if let scopes {
            let valid = scopes.allSatisfy { scope in
                !scope.isEmpty && scope.count <= 32 && scope.allSatisfy { $0.isLetter || $0 == "-" || $0 == "_" }
            }
            guard valid, !scopes.isEmpty else {
                throw StoreError.invalid("scopes must be 1 or more route groups such as sessions, events, tasks")
            }
        }
        let token = Home.newToken()
        let id = TokenRecord.ID.random(prefix: "tok")
        let record = try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO tokens (id, name, role, digest, created_at, agent, expires_at, scopes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    id.rawValue, name, role.rawValue, Event.sha256Hex(token), WireFormat.timestamp(Date()), agent,
                    expiresAt.map(WireFormat.timestamp), scopes?.joined(separator: ","),
                ]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .tokenCreated,
                        actor: actor,
                        payload: [
                            "token_id": .string(id.rawValue), "name": .string(name), "role": .string(role.rawValue),
                            "agent": agent.map(JSONValue.string) ?? .null,
                            "expires_at": expiresAt.map { .string(WireFormat.timestamp($0)) } ?? .null,
                            "scopes": scopes.map { .array($0.map(JSONValue.string)) } ?? .null,
                        ]
                    )
                ],
                in: db
            )
            guard let record = try db.record(TokenRecord.self, "SELECT * FROM tokens WHERE id = ?", [id.rawValue])
            else {
                throw StoreError.notFound(kind: "token", id: id.rawValue)
            }
            return record
        }
        return (record, token)
    }

    /// Every token, newest first, revoked ones included.
    public func list() async throws -> [TokenRecord] {
        try await writer.read { db in
            try db.records(TokenRecord.self, "SELECT * FROM tokens ORDER BY created_at DESC, id")
        }
    }

    /// Tokens that still open the API.
    public func active() async throws -> [TokenRecord] {
        try await writer.read { db in
            try db.records(TokenRecord.self, "SELECT * FROM tokens WHERE revoked_at IS NULL")
        }
    }

    /// Revokes a token at once; throws ``StoreError/notFound(kind:id:)`` for an unknown id.
    public func revoke(_ id: TokenRecord.ID, actor: Principal) async throws {
        try await writer.transaction { db in
            try db.execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                [WireFormat.timestamp(Date()), id.rawValue]
            )
            guard db.changesCount > 0 else { throw StoreError.notFound(kind: "token", id: id.rawValue) }
            _ = try ledger.append(
                [EventDraft(type: .tokenRevoked, actor: actor, payload: ["token_id": .string(id.rawValue)])],
                in: db
            )
        }
    }
}
