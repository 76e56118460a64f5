public import Hummingbird
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
    let router = buildRouter(kernel: kernel)
    return Application(
        router: router,
        server: .guardedWebSocketUpgrade(router: router, gatekeeper: Gatekeeper(kernel: kernel), maxFrameSize: 1 << 20),
        configuration: .init(address: .hostname(host, port: port), serverName: "osprey"),
        onServerRunning: onServerRunning,
        logger: logger
    )
}

/// The router with every route and middleware; shared by the daemon and in-process tests.
public func buildRouter(kernel: Kernel) -> Router<GatewayRequestContext> {
    let router = Router(context: GatewayRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: BodyLimitMiddleware(maxBytes: kernel.config.gateway.maxBodyBytes))
    router.add(middleware: AuthMiddleware(kernel: kernel))
    var routes = RouteTable(router: router)
    StatusController(kernel: kernel).add(to: &routes)
    SessionsController(kernel: kernel).add(to: &routes)
    EventsController(kernel: kernel).add(to: &routes)
    TokensController(kernel: kernel).add(to: &routes)
    ApprovalsController(kernel: kernel).add(to: &routes)
    TasksController(kernel: kernel).add(to: &routes)
    MemoryController(kernel: kernel).add(to: &routes)
    WebSocketController(kernel: kernel).add(to: router)
    routes.extraMethods["/api/ws"] = [.get]
    routes.refuseOtherMethods()
    return router
}

/// Registers routes and remembers each path's methods, so any other method gets 405 with `Allow`.
struct RouteTable {
    let router: Router<GatewayRequestContext>
    private var methods: [String: [HTTPRequest.Method]] = [:]
    var extraMethods: [String: [HTTPRequest.Method]] = [:]

    init(router: Router<GatewayRequestContext>) { self.router = router }

    typealias Handler = @Sendable (Request, GatewayRequestContext) async throws -> Response

    mutating func on(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        methods[path, default: []].append(method)
        router.on(RouterPath(path), method: method, use: handler)
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
