import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore

/// Guards `/api/*`: WebSocket origin, lockout, bearer token, role. `/health` stays open.
///
/// Order matters: a foreign `Origin` on the WebSocket is refused (403) before anything else, so a
/// web page can never learn whether a token works; a locked-out address gets 429 without its token
/// being looked at.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let kernel: Kernel

    @concurrent func handle(
        _ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard path == "/api" || path.hasPrefix("/api/") else { return try await next(request, context) }
        if path == "/api/ws", let origin = request.headers[.origin], !kernel.allowedOrigins.contains(origin.lowercased()) {
            throw APIError(.forbidden, "forbidden_origin", "WebSocket connections from origin '\(origin)' are not allowed.")
        }
        let address = Self.address(context.remoteAddress)
        if let wait = kernel.authLimiter.retryAfter(address: address) {
            var headers = HTTPFields()
            headers[.retryAfter] = String(Int(wait.rounded(.up)))
            throw APIError(.tooManyRequests, "too_many_auth_failures", "Too many failed authentications; retry later.", headers: headers)
        }
        let presented = Self.bearer(request)
        guard let presented, let token = kernel.authenticator.authenticate(presented) else {
            let reason = presented == nil ? "missing" : "invalid"
            let lockedOut = kernel.authLimiter.fail(address: address)
            var payload: [String: JSONValue] = [
                "reason": .string(reason), "address": .string(address), "path": .string(path),
                "method": .string(request.method.rawValue),
            ]
            if lockedOut { payload["locked_out_seconds"] = .int(kernel.config.auth.lockoutSeconds) }
            try await kernel.store.ledger.append(EventDraft(type: "auth.failed", actor: "anonymous", payload: .object(payload)))
            throw APIError(
                .unauthorized, "unauthorized",
                presented == nil ? "Missing bearer token." : "Invalid or revoked token.",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        let required = Self.requiredRole(method: request.method, path: path)
        guard token.role >= required else {
            throw APIError(.forbidden, "forbidden", "This token's role (\(token.role.rawValue)) cannot do this; it needs \(required.rawValue).")
        }
        var context = context
        context.token = token
        return try await next(request, context)
    }

    /// The least role a route needs: tokens are admin-only, reads are for viewers, the rest for operators.
    static func requiredRole(method: HTTPRequest.Method, path: String) -> TokenRole {
        if path == "/api/tokens" || path.hasPrefix("/api/tokens/") { return .admin }
        if method == .get || method == .head { return .viewer }
        return .operator
    }

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func address(_ socket: SocketAddress?) -> String {
        socket?.ipAddress ?? "unknown"
    }
}

/// Refuses request bodies over the configured limit with 413, from the `Content-Length` alone, before reading them.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    @concurrent func handle(
        _ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw APIError(.contentTooLarge, "payload_too_large", "Request body of \(length) bytes exceeds the limit of \(maxBytes).")
        }
        return try await next(request, context)
    }
}
