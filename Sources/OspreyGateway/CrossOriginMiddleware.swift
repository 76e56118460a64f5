import HTTPTypes
import Hummingbird

/// HEAD, OPTIONS and cross-origin access, for every route, in front of everything else.
///
/// - `HEAD` is answered by the `GET` route without the body (the router's `autoGenerateHeadEndpoints`: the same
///   status and headers, `Content-Length` included), so a health check or a proxy that probes with `HEAD` sees what
///   a `GET` would (a route answered 404 before).
/// - `OPTIONS` on a route answers 204 with `Allow`; for an origin `gateway.allowed_origins` names (or the gateway's
///   own), it is the CORS preflight: the methods, the request headers a client of the API sends, and how long the
///   answer may be kept. A preflight carries no token, so it is answered here, before the gatekeeper, which would
///   count it as a failed authentication. A foreign origin gets no CORS headers, and its browser stops there.
/// - Every answer to an allowed origin names it (`Access-Control-Allow-Origin`, varying by `Origin`) and exposes the
///   headers a client reads (the session headers, `Retry-After`), errors included: the gatekeeper still refuses a
///   foreign origin with 403.
struct CrossOriginMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let routes: RouteCatalog
    let allowedOrigins: Set<String>

    static let requestHeaders =
        "Authorization, Content-Type, Accept, Last-Event-ID, Mcp-Session-Id, MCP-Protocol-Version, X-Osprey-Session"
    static let exposedHeaders = "Mcp-Session-Id, X-Osprey-Session, Retry-After, WWW-Authenticate"
    static let preflightSeconds = 600

    @concurrent func handle(
        _ request: Request,
        context: Context,
        next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        let origin = request.headers[.origin].map { $0.lowercased() }.flatMap { allowedOrigins.contains($0) ? $0 : nil }
        if request.method == .options, let segments = RequestPath.canonicalSegments(request.uri.path) {
            return try preflight(routes.methods(for: segments), request: request, context: context, origin: origin)
        }
        var response = try await next(request, context)
        if let origin { Self.allow(origin, in: &response.headers) }
        return response
    }

    private func preflight(
        _ methods: Set<HTTPRequest.Method>,
        request: Request,
        context: Context,
        origin: String?
    ) throws -> Response {
        guard !methods.isEmpty else {
            return try APIError(.notFound, "not_found", "No route \(request.uri.path).")
                .response(from: request, context: context)
        }
        var allowed = methods.map(\.rawValue)
        if methods.contains(.get) { allowed.append("HEAD") }
        allowed.append("OPTIONS")
        let list = allowed.sorted().joined(separator: ", ")
        var headers: HTTPFields = [.allow: list]
        if let origin, request.headers[.accessControlRequestMethod] != nil {
            Self.allow(origin, in: &headers)
            headers[.accessControlAllowMethods] = list
            headers[.accessControlAllowHeaders] = Self.requestHeaders
            headers[.accessControlMaxAge] = String(Self.preflightSeconds)
        }
        return Response(status: .noContent, headers: headers)
    }

    private static func allow(_ origin: String, in headers: inout HTTPFields) {
        headers[.accessControlAllowOrigin] = origin
        headers[.accessControlExposeHeaders] = exposedHeaders
        headers.append(HTTPField(name: .vary, value: "Origin"))
    }
}
