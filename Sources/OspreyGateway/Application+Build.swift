import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
public import Logging
public import NIOCore
import OspreyChannels
import OspreyCore
import OspreyStore
import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// Builds the gateway's HTTP application. The `gateway` command runs it; tests call it directly.
public func buildApplication(
    kernel: Kernel,
    host: String,
    port: Int,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let routes = RouteCatalog()
    let (router, mcp, hub) = buildDoors(kernel: kernel, routes: routes)
    let limits = kernel.config.gateway
    // `osprey mcp serve` carries a host's stdio to this socket (it falls back to /mcp without it).
    let socket = MCPSocketDoor(
        path: kernel.home.mcpSocket.path,
        controller: mcp,
        authenticator: kernel.authenticator,
        limiter: kernel.authLimiter,
        lockoutSeconds: kernel.config.auth.lockoutSeconds,
        ledger: kernel.store.ledger,
        maxLineBytes: limits.maxBodyBytes,
        logger: logger
    )
    return Application(
        router: router,
        server: .guardedWebSocketUpgrade(
            router: router,
            gatekeeper: kernel.gatekeeper(routes: routes),
            limits: EdgeLimits(
                headerTimeout: .milliseconds(Int64(limits.headerTimeoutSeconds * 1000)),
                idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds)),
                writeStallTimeout: .seconds(Int64(limits.writeStallSeconds)),
                maxBodyBytes: limits.maxBodyBytes
            ),
            maxFrameSize: 1 << 20
        ),
        configuration: .init(
            address: .hostname(host, port: port),
            serverName: "osprey",
            availableConnectionsDelegate: MaximumAvailableConnections(
                ConnectionBudget.raise(to: limits.maxConnections, logger: logger),
                logger: logger
            )
        ),
        services: [socket]
            + (hub.map { hub in [LoopService(logger: logger.component("channels")) { await hub.run() }] } ?? []),
        onServerRunning: onServerRunning,
        logger: logger
    )
}

/// The router with every route and middleware; shared by the daemon and in-process tests.
public func buildRouter(kernel: Kernel) -> Router<GatewayRequestContext> {
    buildRouter(kernel: kernel, routes: RouteCatalog())
}

func buildRouter(kernel: Kernel, routes catalog: RouteCatalog) -> Router<GatewayRequestContext> {
    buildDoors(kernel: kernel, routes: catalog).router
}

/// The router, and the MCP door's controller, which the MCP socket serves too.
func buildDoors(
    kernel: Kernel,
    routes catalog: RouteCatalog
) -> (router: Router<GatewayRequestContext>, mcp: MCPController, hub: ChannelHub?) {
    // HEAD on every GET route, answered by it without the body (added once the routes are, not a route each).
    let router = Router(context: GatewayRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.add(middleware: CrossOriginMiddleware(routes: catalog, allowedOrigins: kernel.allowedOrigins))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: AuthMiddleware(gatekeeper: kernel.gatekeeper(routes: catalog)))
    router.add(middleware: BodyLimitMiddleware(maxBytes: kernel.config.gateway.maxBodyBytes))
    var routes = RouteTable(router: router, catalog: catalog, maxBodyBytes: kernel.config.gateway.maxBodyBytes)
    let sessions = SessionsController(
        sessions: kernel.store.sessions,
        runner: AgentRunner(sessions: kernel.store.sessions, ledger: kernel.store.ledger, runtime: kernel.runtime),
        runs: kernel.runtime.runs
    )
    let events = EventsController(
        ledger: kernel.store.ledger,
        authenticator: kernel.authenticator,
        streams: kernel.telemetry.streams("sse"),
        quota: kernel.streamQuota
    )
    let approvals = ApprovalsController(approvals: kernel.store.approvals, desk: kernel.runtime.approvals)
    let tasks = TasksController(
        tasks: kernel.store.tasks,
        schedules: kernel.store.schedules,
        scheduler: kernel.scheduler,
        knows: kernel.runtime.knows(agent:),
        knowsPersona: { [personas = kernel.runtime.personas] in personas.persona(named: $0) != nil },
        checkTools: { [runtime = kernel.runtime] in try runtime.checkTools($0) },
        workflow: { [runtime = kernel.runtime] name, inputs in
            try WorkflowsController.check(name, inputs: inputs, runtime: runtime)
        }
    )
    let tokens = TokensController(tokens: kernel.store.tokens, authenticator: kernel.authenticator)
    let memory = MemoryController(memory: kernel.memory)
    let tools = ToolsController(runtime: kernel.runtime)
    let workflows = WorkflowsController(
        runtime: kernel.runtime,
        tasks: kernel.store.tasks,
        steps: kernel.store.workflowSteps
    )
    let status = StatusController(
        config: kernel.config,
        store: kernel.store,
        runtime: kernel.runtime,
        home: kernel.home,
        startedAt: kernel.startedAt,
        memory: kernel.memory,
        plugins: kernel.plugins,
        mcp: kernel.mcp,
        telemetry: kernel.telemetry,
        ledgerMetrics: kernel.ledgerMetrics
    )
    status.add(to: &routes)
    sessions.add(to: &routes)
    events.add(to: &routes)
    tokens.add(to: &routes)
    approvals.add(to: &routes)
    tasks.add(to: &routes)
    memory.add(to: &routes)
    tools.add(to: &routes)
    workflows.add(to: &routes)
    let budgets = BudgetsController(config: kernel.config, store: kernel.store)
    budgets.add(to: &routes)
    let personas = PersonasController(
        catalog: kernel.runtime.personas,
        modelProblem: { [runtime = kernel.runtime] in runtime.modelRouteProblem($0) },
        checkTools: { [runtime = kernel.runtime] in try runtime.checkTools($0) }
    )
    personas.add(to: &routes)
    let checkpoints = CheckpointsController(runtime: kernel.runtime, ledger: kernel.store.ledger)
    checkpoints.add(to: &routes)
    let seeds = SeedsController(
        seeds: kernel.store.seeds,
        tasks: kernel.store.tasks,
        knows: kernel.runtime.knows(agent:)
    )
    seeds.add(to: &routes)
    let switches = SwitchesController(switches: kernel.switches, records: kernel.store.switches)
    switches.add(to: &routes)
    let receipts = ReceiptsController(store: kernel.store, home: kernel.home)
    receipts.add(to: &routes)
    let resources = ResourcesController(
        overload: kernel.runtime.overload,
        settings: kernel.config.resources,
        supervisor: kernel.supervisor
    )
    resources.add(to: &routes)
    let incidents = IncidentsController(incidents: kernel.store.incidents)
    incidents.add(to: &routes)
    let backups = BackupsController(job: kernel.backups)
    backups.add(to: &routes)
    DashboardController(assets: kernel.dashboard, authenticator: kernel.authenticator).add(to: &routes)
    // The one operation table. The WebSocket binds the same operations by name, so role and scope checks and
    // request decoding exist once for both doors.
    let operations =
        sessions.operations + events.operations + approvals.operations + tasks.operations + tokens.operations
        + memory.operations + status.operations + tools.operations + workflows.operations
        + budgets.operations + personas.operations + checkpoints.operations
        + seeds.operations + switches.operations + receipts.operations + resources.operations + incidents.operations
        + backups.operations
    var table = Dictionary(uniqueKeysWithValues: operations.map { ($0.name, $0) })
    // Chat channels reach the agents and approvals through the same table, as their senders.
    let hub =
        kernel.channels.isEmpty
        ? nil
        : ChannelHub(
            entries: kernel.channels,
            store: kernel.store,
            agents: ChannelsController.agents(table),
            workspace: kernel.runtime.workspace.root,
            logger: Logger.current.component("channels")
        )
    let channels = ChannelsController(hub: hub, settings: kernel.config.channels, channels: kernel.store.channels)
    channels.add(to: &routes)
    for operation in channels.operations { table[operation.name] = operation }
    // OpenAI clients reach the agents through /v1, on the same operations.
    OpenAIController(
        operations: table,
        agents: kernel.config.agentNames,
        sessions: kernel.store.sessions
    ).add(to: &routes)
    // A seed's mechanical evaluation calls the agent's tools through the same table.
    SeedEvaluationController(operations: table, seeds: kernel.store.seeds, ledger: kernel.store.ledger).add(
        to: &routes
    )
    // A goal becomes a seed through an interview whose turns are sessions of the same table.
    InterviewController(operations: table, interviews: kernel.store.interviews).add(to: &routes)
    // Other agents reach the same operations through A2A.
    A2AController(
        operations: table,
        settings: kernel.config.a2a,
        agents: kernel.config.agentNames.map { ($0, kernel.config.agents[$0]?.model ?? "the default route") },
        bus: kernel.store.ledger.bus,
        maxBodyBytes: kernel.config.gateway.maxBodyBytes,
        blockingWait: .seconds(max(5, kernel.config.gateway.idleTimeoutSeconds - 5))
    ).add(to: &routes)
    // MCP hosts reach the same operations through /mcp.
    let mcp = MCPController(
        operations: table,
        maxBodyBytes: kernel.config.gateway.maxBodyBytes,
        ledger: kernel.store.ledger,
        agents: kernel.config.agentNames.map {
            ($0, kernel.config.agents[$0]?.model ?? "the default route")
        },
        serveAgent: kernel.config.mcp.serveAgent,
        quota: kernel.streamQuota
    )
    mcp.add(to: &routes)
    WebSocketController(
        operations: table,
        ledger: kernel.store.ledger,
        authenticator: kernel.authenticator,
        streams: kernel.telemetry.streams("websocket")
    ).add(to: router)
    catalog.declare(.get, "/api/ws", access: WebSocketController.access)
    routes.extraMethods["/api/ws"] = [.get]
    routes.refuseOtherMethods()
    return (router, mcp, hub)
}

/// Registers routes with the access each one declares, and remembers each path's methods, so any other method
/// gets 405 with `Allow`.
///
/// The access is a required argument: a route without one does not compile. The gatekeeper decides on it before
/// any handler runs, and the route checks it again itself, so a handler is never reached by a token that lacks it.
struct RouteTable {
    let router: Router<GatewayRequestContext>
    let catalog: RouteCatalog
    /// The largest request body an operation's route reads.
    let maxBodyBytes: Int
    private var methods: [String: [HTTPRequest.Method]] = [:]
    var extraMethods: [String: [HTTPRequest.Method]] = [:]

    init(router: Router<GatewayRequestContext>, catalog: RouteCatalog, maxBodyBytes: Int) {
        self.router = router
        self.catalog = catalog
        self.maxBodyBytes = maxBodyBytes
    }

    typealias Handler = @Sendable (Request, GatewayRequestContext) async throws -> Response

    mutating func on(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ access: RouteAccess,
        _ handler: @escaping Handler
    ) {
        methods[path, default: []].append(method)
        let route = catalog.declare(method, path, access: access)
        router.on(RouterPath(path), method: method) { request, context in
            if let refusal = Gatekeeper.refusal(token: context.token, route: route) { throw refusal }
            return try await handler(request, context)
        }
    }

    /// Binds `operation` to a route: the route needs the operation's role, and the request's fields come from
    /// the path (`parameters` maps a `:name` to a field), the query (only the names in `query`; others are
    /// ignored) and, when `body` is true, a JSON body that may hold only the operation's other fields.
    ///
    /// `status` picks the success status from the answer; 202 and 204 send no body. `eventStream`, when given,
    /// answers a request that accepts `text/event-stream` instead of the JSON answer.
    mutating func bind(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ operation: Operation,
        parameters: [String: String] = [:],
        query: Set<String> = [],
        body: Bool = false,
        status: @escaping @Sendable (JSONValue) -> HTTPResponse.Status = { _ in .ok },
        eventStream: (@Sendable (Fields, Caller) async throws -> Response)? = nil
    ) {
        // A scoped token reaches a route and its operation through the same group, or the two checks disagree.
        assert(
            RouteDeclaration.group(of: path.split(separator: "/")) == operation.group,
            "\(path) is not \(operation.name)"
        )
        let maxBodyBytes = self.maxBodyBytes
        let bodyFields = operation.fields.subtracting(parameters.values).subtracting(query)
        on(method, path, .role(operation.role)) { request, context in
            var fields = Fields()
            if body {
                fields = Fields(
                    json: try await JSONBody.read(request, maxBytes: maxBodyBytes, allowed: bodyFields).members
                )
            }
            for (parameter, field) in parameters {
                fields.set(field, .string(context.parameters.get(parameter) ?? ""), from: .path)
            }
            for name in query {
                if let text = request.uri.queryParameters[name[...]] {
                    fields.set(name, .string(String(text)), from: .query)
                }
            }
            var caller = Caller(token: context.token)
            caller.connectionClosed = context.connectionClosed
            if let eventStream, request.wantsEventStream { return try await eventStream(fields, caller) }
            let answer = try await operation.call(fields, caller: caller)
            let status = status(answer)
            if status == .noContent || status == .accepted { return Response(status: status) }
            return try .json(answer, status: status)
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

/// How many connections the process can hold open: each is a file descriptor, and so are the database, the logs,
/// sandboxed commands' pipes and outgoing requests.
enum ConnectionBudget {
    /// Descriptors kept for everything that is not an inbound connection.
    static let reserve = 256

    /// Raises the soft limit on open files towards the hard one (as servers do; the default soft limit of 1,024
    /// would cut a gateway off at a few hundred streams) and returns how many connections fit: `wanted`, or fewer,
    /// with a warning, when the hard limit leaves no room for them.
    static func raise(to wanted: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return wanted }
        let needed = rlim_t(wanted + reserve)
        if limit.rlim_cur < needed {
            var raised = limit
            raised.rlim_cur = min(needed, limit.rlim_max)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let fits = max(1, Int(min(limit.rlim_cur, rlim_t(Int.max))) - reserve)
        guard fits < wanted else { return wanted }
        logger.warning(
            "gateway.max_connections is \(wanted), but the open-file limit (\(limit.rlim_cur)) leaves room for \(fits); serving at most \(fits) at once (raise it with ulimit -n or LimitNOFILE)"
        )
        return fits
    }
}
