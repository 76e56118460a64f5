import Foundation
import Hummingbird
import OspreyCore
import OspreyStore

/// `/api/tokens`: admin-only token management; every change takes effect at once.
struct TokensController {
    let tokens: Tokens
    let authenticator: Authenticator

    var operations: [Operation] { [list, create, revoke] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/tokens", list)
        routes.bind(.post, "/api/tokens", create, body: true, status: { _ in .created })
        routes.bind(.delete, "/api/tokens/:id", revoke, parameters: ["id": "id"], status: { _ in .noContent })
    }

    var list: Operation {
        Operation("tokens.list", role: .admin) { (_: NoFields, _) in
            ["tokens": try JSONValue(encoding: try await tokens.list())]
        }
    }

    struct Create: OperationRequest {
        static let fields: Set<String> = ["name", "role", "agent", "expires_in_seconds", "scopes"]
        let name: String?
        let role: TokenRole
        let agent: String?
        let expiresInSeconds: Int?
        let scopes: [String]?

        init(_ fields: Fields) throws {
            let roleName = try fields.optionalString("role") ?? "viewer"
            guard let role = TokenRole(rawValue: roleName) else {
                throw APIError.badRequest("Field 'role' must be admin, operator or viewer.")
            }
            self.role = role
            expiresInSeconds = try fields.optionalInt("expires_in_seconds")
            if let seconds = expiresInSeconds, !(1...(366 * 86_400)).contains(seconds) {
                throw APIError.badRequest("Field 'expires_in_seconds' must be between 1 and 31622400.")
            }
            agent = try fields.optionalString("agent")
            scopes = try fields.optionalStrings("scopes")
            name = try fields.optionalString("name")
        }
    }

    var create: Operation {
        Operation("tokens.create", role: .admin) { (request: Create, caller) in
            var expiresAt = request.expiresInSeconds.map { Date().addingTimeInterval(Double($0)) }
            let token = caller.token
            // A token never mints one with more authority than itself: a bound token's children are bound to the
            // same agent, a scoped token's are scoped within its scopes, an expiring token's expire no later.
            let agent = request.agent ?? token?.agent
            if token?.expiresAt != nil, expiresAt == nil { expiresAt = token?.expiresAt }
            let scopes = request.scopes ?? token?.scopes
            if let token, !token.covers(role: request.role, agent: agent, expiresAt: expiresAt, scopes: scopes) {
                throw APIError(
                    .forbidden,
                    "exceeds_authority",
                    "A token cannot create a token with more authority than its own (role, agent, expiry or scopes)."
                )
            }
            let (record, secret) = try await tokens.create(
                name: request.name ?? request.role.rawValue,
                role: request.role,
                agent: agent,
                expiresAt: expiresAt,
                scopes: scopes,
                actor: caller.actor
            )
            try await authenticator.refresh()
            return try JSONValue(encoding: Created(token: secret, record: record))
        }
    }

    var revoke: Operation {
        Operation("tokens.revoke", role: .admin) { (request: RecordID, caller) in
            try await tokens.revoke(TokenRecord.ID(request.id), actor: caller.actor)
            try await authenticator.refresh()
            return ["revoked": true]
        }
    }

    /// The one response that ever carries a token in clear.
    struct Created: Encodable {
        var token: String
        var record: TokenRecord

        func encode(to encoder: any Encoder) throws {
            try record.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(token, forKey: Key(stringValue: "token")!)  // a fixed, valid key
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }
}
