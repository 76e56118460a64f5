import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore

/// The access decision for one request, made the same way for HTTP routes and WebSocket upgrades.
///
/// Order matters: a foreign `Origin` on the WebSocket is refused (403) before anything else, so a
/// web page can never learn whether a token works; a locked-out address gets 429 without its token
/// being looked at; then the bearer token, then the role the route needs.
struct Gatekeeper: Sendable {
    let kernel: Kernel

    enum Decision {
        case allow(TokenRecord?)
        /// Refused; `failure` is the `auth.failed` event to record, if this refusal counts as one.
        case reject(APIError, failure: EventDraft?)
    }

    func decide(
        method: HTTPRequest.Method,
        path: String,
        origin: String?,
        authorization: String?,
        address: String
    ) -> Decision {
        guard path == "/api" || path.hasPrefix("/api/") else { return .allow(nil) }
        if path == "/api/ws", let origin, !kernel.allowedOrigins.contains(origin.lowercased()) {
            return .reject(
                APIError(
                    .forbidden,
                    "forbidden_origin",
                    "WebSocket connections from origin '\(origin)' are not allowed."
                ),
                failure: nil
            )
        }
        if let wait = kernel.authLimiter.retryAfter(address: address) {
            var headers = HTTPFields()
            headers[.retryAfter] = String(Int(wait.rounded(.up)))
            return .reject(
                APIError(
                    .tooManyRequests,
                    "too_many_auth_failures",
                    "Too many failed authentications; retry later.",
                    headers: headers
                ),
                failure: nil
            )
        }
        let presented = Self.bearer(authorization)
        guard let presented, let token = kernel.authenticator.authenticate(presented) else {
            let lockedOut = kernel.authLimiter.fail(address: address)
            var payload: [String: JSONValue] = [
                "reason": .string(presented == nil ? "missing" : "invalid"), "address": .string(address),
                "path": .string(path), "method": .string(method.rawValue),
            ]
            if lockedOut { payload["locked_out_seconds"] = .int(kernel.config.auth.lockoutSeconds) }
            let error = APIError(
                .unauthorized,
                "unauthorized",
                presented == nil ? "Missing bearer token." : "Invalid or revoked token.",
                headers: [.wwwAuthenticate: "Bearer"]
            )
            return .reject(
                error,
                failure: EventDraft(type: "auth.failed", actor: "anonymous", payload: .object(payload))
            )
        }
        let required = Self.requiredRole(method: method, path: path)
        guard token.role >= required else {
            return .reject(
                APIError(
                    .forbidden,
                    "forbidden",
                    "This token's role (\(token.role.rawValue)) cannot do this; it needs \(required.rawValue)."
                ),
                failure: nil
            )
        }
        return .allow(token)
    }

    /// The least role a route needs: tokens are admin-only, reads are for viewers, the rest for operators.
    static func requiredRole(method: HTTPRequest.Method, path: String) -> TokenRole {
        if path == "/api/tokens" || path.hasPrefix("/api/tokens/") { return .admin }
        if method == .get || method == .head { return .viewer }
        return .operator
    }

    static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func address(_ socket: SocketAddress?) -> String {
        socket?.ipAddress ?? "unknown"
    }
}

/// Guards `/api/*` routes with the ``Gatekeeper``; `/health` and `/metrics` stay open.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let kernel: Kernel

    @concurrent func handle(
        _ request: Request,
        context: Context,
        next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        let decision = Gatekeeper(kernel: kernel).decide(
            method: request.method,
            path: request.uri.path,
            origin: request.headers[.origin],
            authorization: request.headers[.authorization],
            address: Gatekeeper.address(context.remoteAddress)
        )
        switch decision {
        case .allow(let token):
            var context = context
            context.token = token
            return try await next(request, context)
        case .reject(let error, let failure):
            if let failure { try await kernel.store.ledger.append(failure) }
            throw error
        }
    }
}

/// Refuses request bodies over the configured limit with 413, from the `Content-Length` alone, before reading them.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    @concurrent func handle(
        _ request: Request,
        context: Context,
        next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw APIError(
                .contentTooLarge,
                "payload_too_large",
                "Request body of \(length) bytes exceeds the limit of \(maxBytes)."
            )
        }
        return try await next(request, context)
    }
}
