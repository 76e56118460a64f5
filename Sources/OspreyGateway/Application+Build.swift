public import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
public import Logging
public import NIOCore
import OspreyCore
import OspreyStore

/// Builds the gateway's HTTP application. The `gateway` command runs it; tests call it directly.
public func buildApplication(
    kernel: Kernel,
    host: String,
    port: Int,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let routes = RouteCatalog()
    let router = buildRouter(kernel: kernel, routes: routes)
    let limits = kernel.config.gateway
    return Application(
        router: router,
        server: .guardedWebSocketUpgrade(
            router: router,
            gatekeeper: Gatekeeper(kernel: kernel, routes: routes),
            limits: EdgeLimits(
                headerTimeout: .milliseconds(Int64(limits.headerTimeoutSeconds * 1000)),
                idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds))
            ),
            maxFrameSize: 1 << 20
        ),
        configuration: .init(
            address: .hostname(host, port: port),
            serverName: "osprey",
            availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections, logger: logger)
        ),
        onServerRunning: onServerRunning,
        logger: logger
    )
}

/// The router with every route and middleware; shared by the daemon and in-process tests.
public func buildRouter(kernel: Kernel) -> Router<GatewayRequestContext> {
    buildRouter(kernel: kernel, routes: RouteCatalog())
}

func buildRouter(kernel: Kernel, routes catalog: RouteCatalog) -> Router<GatewayRequestContext> {
    let router = Router(context: GatewayRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: AuthMiddleware(kernel: kernel, routes: catalog))
    router.add(middleware: BodyLimitMiddleware(maxBytes: kernel.config.gateway.maxBodyBytes))
    var routes = RouteTable(router: router, catalog: catalog)
    StatusController(kernel: kernel).add(to: &routes)
    SessionsController(kernel: kernel).add(to: &routes)
    EventsController(kernel: kernel).add(to: &routes)
    TokensController(kernel: kernel).add(to: &routes)
    ApprovalsController(kernel: kernel).add(to: &routes)
    TasksController(kernel: kernel).add(to: &routes)
    MemoryController(kernel: kernel).add(to: &routes)
    WebSocketController(kernel: kernel).add(to: router)
    catalog.declare(.get, "/api/ws", access: WebSocketController.access)
    routes.extraMethods["/api/ws"] = [.get]
    routes.refuseOtherMethods()
    return router
}

/// Registers routes with the access each one declares, and remembers each path's methods, so any other method
/// gets 405 with `Allow`.
///
/// The access is a required argument: a route without one does not compile. The gatekeeper decides on it before
/// any handler runs, and the route checks it again itself, so a handler is never reached by a token that lacks it.
struct RouteTable {
    let router: Router<GatewayRequestContext>
    let catalog: RouteCatalog
    private var methods: [String: [HTTPRequest.Method]] = [:]
    var extraMethods: [String: [HTTPRequest.Method]] = [:]

    init(router: Router<GatewayRequestContext>, catalog: RouteCatalog) {
        self.router = router
        self.catalog = catalog
    }

    typealias Handler = @Sendable (Request, GatewayRequestContext) async throws -> Response

    mutating func on(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ access: RouteAccess,
        _ handler: @escaping Handler
    ) {
        methods[path, default: []].append(method)
        catalog.declare(method, path, access: access)
        let route = RouteDeclaration(
            method: method,
            segments: path.split(separator: "/").map(String.init),
            access: access
        )
        router.on(RouterPath(path), method: method) { request, context in
            if let refusal = Gatekeeper.refusal(token: context.token, route: route) { throw refusal }
            return try await handler(request, context)
        }
    }

    func refuseOtherMethods() {
        let all: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]
        for (path, used) in methods.merging(extraMethods, uniquingKeysWith: +) {
            let allow = used.map(\.rawValue).joined(separator: ", ")
            for method in all where !used.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ -> Response in
                    throw APIError(
                        .methodNotAllowed,
                        "method_not_allowed",
                        "\(request.method.rawValue) is not allowed on \(path).",
                        headers: [.allow: allow]
                    )
                }
            }
        }
    }
}
