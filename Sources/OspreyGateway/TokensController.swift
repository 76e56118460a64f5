import Foundation
import Hummingbird
import OspreyCore
import OspreyStore

/// `/api/tokens`: admin-only token management; every change takes effect at once.
struct TokensController {
    let kernel: Kernel

    func add(to routes: inout RouteTable) {
        routes.on(.get, "/api/tokens", .role(.admin)) { _, _ in
            try .json(["tokens": try await kernel.store.tokens.list()])
        }
        routes.on(.post, "/api/tokens", .role(.admin), create)
        routes.on(.delete, "/api/tokens/:id", .role(.admin), revoke)
    }

    @Sendable func create(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await JSONBody.read(
            request,
            maxBytes: kernel.config.gateway.maxBodyBytes,
            allowed: ["name", "role", "agent", "expires_in_seconds", "scopes"]
        )
        let roleName = try body.optionalString("role") ?? "viewer"
        guard let role = TokenRole(rawValue: roleName) else {
            throw APIError.badRequest("Field 'role' must be admin, operator or viewer.")
        }
        var expiresAt: Date?
        if let seconds = try body.optionalInt("expires_in_seconds") {
            guard (1...(366 * 86_400)).contains(seconds) else {
                throw APIError.badRequest("Field 'expires_in_seconds' must be between 1 and 31622400.")
            }
            expiresAt = Date().addingTimeInterval(Double(seconds))
        }
        let caller = context.token
        // A token never mints one with more authority than itself: a bound token's children are bound to the same
        // agent, a scoped token's are scoped within its scopes, an expiring token's expire no later.
        let agent = try body.optionalString("agent") ?? caller?.agent
        if caller?.expiresAt != nil, expiresAt == nil { expiresAt = caller?.expiresAt }
        let scopes = try body.optionalStrings("scopes") ?? caller?.scopes
        if let caller, !caller.covers(role: role, agent: agent, expiresAt: expiresAt, scopes: scopes) {
            throw APIError(
                .forbidden,
                "exceeds_authority",
                "A token cannot create a token with more authority than its own (role, agent, expiry or scopes)."
            )
        }
        let (record, token) = try await kernel.store.tokens.create(
            name: try body.optionalString("name") ?? role.rawValue,
            role: role,
            agent: agent,
            expiresAt: expiresAt,
            scopes: scopes,
            actor: context.actor
        )
        try await kernel.authenticator.refresh()
        return try .json(Created(token: token, record: record), status: .created)
    }

    @Sendable func revoke(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id") else { throw APIError.badRequest("Missing token id.") }
        try await kernel.store.tokens.revoke(TokenRecord.ID(id), actor: context.actor)
        try await kernel.authenticator.refresh()
        return Response(status: .noContent)
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
