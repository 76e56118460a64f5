import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore

/// What the gatekeeper reads of a request: the same fields for HTTP routes and WebSocket upgrades.
struct RequestFacts: Sendable {
    var method: HTTPRequest.Method
    /// The raw path, without the query.
    var path: String
    var host: String?
    var origin: String?
    var authorization: String?
    var contentType: String?
    var address: String
    /// What the bad-token limit counts: the address, or an IPv6 client's /64 (a host has a whole /64 to pick
    /// addresses from, and would otherwise get `max_failures` guesses, and as many `auth.failed` events, from each).
    var client: String
    /// A WebSocket ticket (`?ticket=` on `GET /api/ws`), for a browser that cannot send `Authorization` there.
    var ticket: String? = nil
    /// Whether deciding uses the ticket up (the upgrade) or only checks it (the edge, before the upgrade).
    var consumeTicket = true
}

/// The access decision for one request, made the same way for HTTP routes and WebSocket upgrades.
///
/// Order matters:
/// 1. a `Host` that is not the gateway's own (DNS rebinding) is refused on every route, `/health` included;
/// 2. a path the router would read differently from its string (`//api`, `/api/./x`) is refused;
/// 3. outside `/api`, routes are open;
/// 4. a foreign `Origin` is refused (403) before anything else, so a web page can never learn whether a token works;
/// 5. a locked-out address gets 429 without its token being looked at;
/// 6. the bearer token (unrevoked, unexpired);
/// 7. a state-changing request that is not JSON is refused (415): it is what a page can send without a preflight;
/// 8. the route: unknown under `/api` is 404 before any handler; then the role and scopes the route declares.
struct Gatekeeper: Sendable {
    /// The gateway's host names and limits.
    let gateway: OspreyConfig.Gateway
    /// Origins allowed to call the API and open the WebSocket.
    let allowedOrigins: Set<String>
    let limiter: AuthFailureLimiter
    /// How long a locked-out address waits, for the `auth.failed` event.
    let lockoutSeconds: Int
    let authenticator: Authenticator
    /// Where refusals that count as failures are recorded.
    let ledger: Ledger
    let routes: RouteCatalog
    /// The streams each token holds open: a WebSocket upgrade takes one.
    let streams: StreamQuota
    /// The connections each client address holds open: a new connection takes one.
    let addresses: AddressQuota

    enum Decision {
        case allow(TokenRecord?)
        /// Refused; `failure` is the `auth.failed` event to record, if this refusal counts as one.
        case reject(APIError, failure: EventDraft?)
    }

    func decide(_ request: RequestFacts) -> Decision {
        if let host = request.host, !Self.isOwnHost(host, configured: gateway) {
            return .reject(
                APIError(.misdirectedRequest, "unknown_host", "Host '\(host)' is not this gateway's."),
                failure: nil
            )
        }
        guard let segments = RequestPath.canonicalSegments(request.path) else {
            return .reject(
                APIError(
                    .badRequest,
                    "non_canonical_path",
                    "The path must be canonical: no empty, '.' or '..' segments and no encoded separators."
                ),
                failure: nil
            )
        }
        guard segments.first == "api" else {
            if case .route(let route) = routes.match(method: request.method, segments: segments), route.access != .open
            {
                // A route outside /api that needs a token: decided like any other below.
                return authorize(request, segments: segments)
            }
            return .allow(nil)
        }
        return authorize(request, segments: segments)
    }

    private func authorize(_ request: RequestFacts, segments: [Substring]) -> Decision {
        if let origin = request.origin, !allowedOrigins.contains(origin.lowercased()) {
            return .reject(
                APIError(.forbidden, "forbidden_origin", "Requests from origin '\(origin)' are not allowed."),
                failure: nil
            )
        }
        if let wait = limiter.retryAfter(address: request.client) {
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
        let presented = Self.bearer(request.authorization)
        // A ticket opens the WebSocket only, and only when no Authorization header was sent.
        let ticketed =
            presented == nil && request.method == .get && segments == ["api", "ws"]
            ? request.ticket.flatMap { authenticator.redeem(ticket: $0, consume: request.consumeTicket) } : nil
        guard let token = ticketed ?? presented.flatMap({ authenticator.authenticate($0) }) else {
            let lockedOut = limiter.fail(address: request.client)
            var payload: [String: JSONValue] = [
                "reason": .string(presented == nil && request.ticket == nil ? "missing" : "invalid"),
                "address": .string(request.address),
                "path": .string(request.path), "method": .string(request.method.rawValue),
            ]
            if lockedOut { payload["locked_out_seconds"] = .int(lockoutSeconds) }
            let error = APIError(
                .unauthorized,
                "unauthorized",
                presented == nil && request.ticket == nil
                    ? "Missing bearer token." : "Invalid, expired or revoked token (or ticket).",
                headers: [.wwwAuthenticate: "Bearer"]
            )
            return .reject(
                error,
                failure: EventDraft(type: .authFailed, actor: .anonymous, payload: .object(payload))
            )
        }
        if [.post, .put, .patch].contains(request.method), !Self.isJSON(request.contentType) {
            return .reject(
                APIError(
                    .unsupportedMediaType,
                    "unsupported_media_type",
                    "State-changing requests must send 'Content-Type: application/json'."
                ),
                failure: nil
            )
        }
        switch routes.match(method: request.method, segments: segments) {
        case .none:
            return .reject(APIError(.notFound, "not_found", "No route \(request.path)."), failure: nil)
        case .otherMethod:
            return .allow(token)  // the router answers 405 with `Allow`
        case .route(let route):
            if let refusal = Self.refusal(token: token, route: route) { return .reject(refusal, failure: nil) }
            return .allow(token)
        }
    }

    /// Why `token` may not call `route`, or nil. Also checked again by the route itself.
    static func refusal(token: TokenRecord?, route: RouteDeclaration) -> APIError? {
        guard case .role(let required) = route.access else { return nil }
        return refusal(token: token, role: required, group: route.group)
    }

    /// Why `token` may not do what needs `required` in scope group `group`, or nil: the one role and scope check
    /// for routes and operations alike.
    static func refusal(token: TokenRecord?, role required: TokenRole, group: String) -> APIError? {
        guard let token else {
            return APIError(
                .unauthorized,
                "unauthorized",
                "Missing bearer token.",
                headers: [.wwwAuthenticate: "Bearer"]
            )
        }
        guard token.role >= required else {
            return APIError(
                .forbidden,
                "forbidden",
                "This token's role (\(token.role.rawValue)) cannot do this; it needs \(required.rawValue)."
            )
        }
        if let scopes = token.scopes, !scopes.contains(group) {
            return APIError(
                .forbidden,
                "out_of_scope",
                "This token is limited to \(scopes.joined(separator: ", ")); '\(group)' is outside its scopes."
            )
        }
        return nil
    }

    /// `application/json`, with or without parameters.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let media = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return trimmed(media).lowercased() == "application/json"
    }

    /// Without the spaces and tabs around it (what HTTP allows around a header's value and its parts). Foundation's
    /// `trimmingCharacters(in:)` goes through a character set on every request; this does not.
    static func trimmed(_ text: some StringProtocol) -> Substring {
        let text = Substring(text)
        func blank(_ character: Character) -> Bool { character == " " || character == "\t" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
        else { return "" }
        return text[first...last]
    }

    /// Whether a `Host` header names this gateway: an IP literal (a rebinding page cannot send one of its own),
    /// `localhost`, the configured listen host, or a name in `[gateway] allowed_hosts`.
    static func isOwnHost(_ header: String, configured: OspreyConfig.Gateway) -> Bool {
        let value = trimmed(header).lowercased()
        var name = value
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return false }
            name = String(value[value.index(after: value.startIndex)..<close])
            let rest = value[value.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && Int(rest.dropFirst()) != nil) else { return false }
            return name.contains(":") && name.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        if let colon = value.lastIndex(of: ":") {
            guard Int(value[value.index(after: colon)...]) != nil else { return false }
            name = String(value[..<colon])
        }
        if name.isEmpty { return false }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return true }
        if name == "localhost" || name == configured.host.lowercased() { return true }
        return configured.allowedHosts.contains { $0.lowercased() == name }
    }

    static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = trimmed(parts[1])
        return token.isEmpty ? nil : String(token)
    }

    static func address(_ socket: SocketAddress?) -> String {
        socket?.ipAddress ?? "unknown"
    }

    static func client(_ socket: SocketAddress?) -> String {
        socket.flatMap(AddressQuota.key) ?? address(socket)
    }
}

/// Puts every request through the ``Gatekeeper``: the Host check everywhere, tokens and roles on `/api/*`.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let gatekeeper: Gatekeeper

    @concurrent func handle(
        _ request: Request,
        context: Context,
        next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        let decision = gatekeeper.decide(
            RequestFacts(
                method: request.method,
                path: request.uri.path,
                host: request.head.authority,
                origin: request.headers[.origin],
                authorization: request.headers[.authorization],
                contentType: request.headers[.contentType],
                address: Gatekeeper.address(context.remoteAddress),
                client: Gatekeeper.client(context.remoteAddress),
                ticket: request.uri.queryParameters["ticket"].map(String.init)
            )
        )
        switch decision {
        case .allow(let token):
            var context = context
            context.token = token
            return try await next(request, context)
        case .reject(let error, let failure):
            if let failure { try await gatekeeper.ledger.append(failure) }
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
