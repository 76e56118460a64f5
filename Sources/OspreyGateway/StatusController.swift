import Foundation
import Hummingbird
import NIOCore
import OspreyCore
import OspreyMCP
import OspreyMemory
import OspreyPlugins
import OspreyProviders
import OspreySandbox
import OspreyStore
import OspreyTools
import Prometheus

/// `/health`, `/api/status`, `/api/models`, `/api/usage`, `/api/system`, `/metrics`, `/api/audit/export`.
struct StatusController {
    let config: OspreyConfig
    let store: Store
    /// Providers' breakers and the local model.
    let runtime: AgentRuntime
    let home: Home
    let startedAt: Date
    /// For the embedding backlog.
    let memory: MemoryBank
    let plugins: Plugins
    let mcp: MCPServers
    let telemetry: Telemetry
    let ledgerMetrics: LedgerMetrics

    func add(to routes: inout RouteTable) {
        routes.on(.get, "/health", .open) { _, _ in
            try .json(["status": "ok", "version": JSONValue.string(Kernel.version)] as JSONValue)
        }
        routes.bind(.get, "/api/status", status)
        // Text for Prometheus and a JSON Lines stream: not one JSON answer, so routes of their own.
        routes.on(.get, "/metrics", config.metrics.requireToken ? .role(.viewer) : .open, metrics)
        routes.on(.get, "/api/audit/export", .role(.viewer), export)
        routes.bind(.get, "/api/models", models)
        routes.bind(.get, "/api/usage", usage, query: ["days"])
        routes.bind(.get, "/api/system", system)
    }

    var operations: [Operation] { [status, models, usage, system] }

    /// What the gateway runs with: the sandbox ladder as `doctor` proves it (a command run through it), the plugins
    /// and why any did not load, the skills and why any is unavailable, the MCP servers.
    var system: Operation {
        Operation("system.get", role: .viewer) { (_: NoFields, _) in
            let sandbox = runtime.sandbox
            var rung: String
            var layers: [JSONValue] = []
            switch sandbox.rung {
            case .unavailable(let reason): rung = "unavailable: \(reason)"
            case .bare: rung = "bare (no sandbox: development only)"
            case .process, .bubblewrap:
                rung = "\(sandbox.rung)"
                for layer in await SandboxProbe.run(sandbox) {
                    layers.append(
                        ["name": .string(layer.name), "active": .bool(layer.active), "detail": .string(layer.detail)]
                    )
                }
            }
            let plugins = plugins.loaded.map { plugin -> JSONValue in
                [
                    "name": .string(plugin.manifest.name), "version": .string(plugin.manifest.version),
                    "tools": .array(plugin.manifest.tools.map { .string("\(plugin.manifest.name)__\($0.name)") }),
                    "may_reach": .string(plugin.manifest.capabilities.summary),
                ]
            }
            let skills = runtime.skillCatalog().skills.map { skill -> JSONValue in
                [
                    "name": .string(skill.name), "trusted": .bool(skill.trusted),
                    "workflow": .bool(skill.workflow != nil),
                    "unavailable": skill.unavailable.map(JSONValue.string) ?? .null,
                ]
            }
            return [
                "sandbox": ["rung": .string(rung), "layers": .array(layers)],
                "plugins": .array(plugins),
                "plugin_failures": .object(self.plugins.failures.mapValues(JSONValue.string)),
                "skills": .array(skills),
                "mcp_servers": .array(mcp.clients.map { .string($0.configuration.name) }),
                "mcp_failures": .object(mcp.failures.mapValues(JSONValue.string)),
                "mcp_connecting": .array(mcp.connecting.map(JSONValue.string)),
            ]
        }
    }

    struct Usage: OperationRequest {
        static let fields: Set<String> = ["days"]
        let days: Int
        init(_ fields: Fields) throws { days = try fields.int("days", default: 30, range: 1...366) }
    }

    /// Tokens and dollars per agent and per model per UTC day (budgets and what is left of them: `/api/budgets`).
    var usage: Operation {
        Operation("usage.list", role: .viewer) { (request: Usage, _) in
            let days = try await store.spending.daily(days: request.days)
            return [
                "days": .array(
                    days.map {
                        [
                            "day": .string($0.day), "agent": .string($0.agent), "tokens": .int($0.total.tokens),
                            "cost_usd": .double($0.total.costUSD),
                        ]
                    }
                ),
                "models": .array(
                    try await store.spending.dailyByModel(days: request.days).map {
                        [
                            "day": .string($0.day), "model": .string($0.model), "tokens": .int($0.total.tokens),
                            "cost_usd": .double($0.total.costUSD),
                        ]
                    }
                ),
            ]
        }
    }

    /// Providers with their models and breaker state, the local model, and each agent's routes.
    var models: Operation {
        Operation("models.list", role: .viewer) { (_: NoFields, _) in try await listModels() }
    }

    func listModels() async throws -> JSONValue {
        let breakers = runtime.router.breakerStates()
        var providers: [JSONValue] = config.providers.map { provider in
            [
                "name": .string(provider.name), "kind": .string(provider.kind),
                "base_url": provider.baseURL.map(JSONValue.string) ?? .null,
                "models": .array(provider.models.map(JSONValue.string)),
                "breaker": .string(breakers[provider.name] ?? "closed"),
            ]
        }
        var local: JSONValue = ["enabled": false]
        if let server = runtime.localModel {
            let running = await server.isRunning
            let lastError = await server.lastError
            local = [
                "enabled": true, "running": .bool(running), "base_url": .string(server.baseURL),
                "model": .string(config.localModel.modelName),
                "last_error": lastError.map(JSONValue.string) ?? .null,
            ]
            providers.append([
                "name": "local", "kind": "openai", "base_url": .string(server.baseURL),
                "models": [.string(config.localModel.modelName)],
                "breaker": .string(breakers["local"] ?? "closed"),
            ])
        }
        var agents: [String: JSONValue] = [:]
        for name in Set(["default"] + config.agents.keys) {
            let settings = config.agent(name)
            let routes = (try? runtime.routes(for: settings)) ?? []
            agents[name] = [
                "routes": .array(routes.map { .string($0.description) }),
                "tools": .array(runtime.grantedTools(settings).map(JSONValue.string)),
            ]
        }
        return ["providers": .array(providers), "local_model": local, "agents": .object(agents)]
    }

    var status: Operation {
        Operation("status.get", role: .viewer) { (_: NoFields, _) in try await currentStatus() }
    }

    func currentStatus() async throws -> JSONValue {
        let lastSeq = try await store.ledger.lastSeq()
        let sessions = try await store.sessions.count()
        let synchronous = try await store.writerSynchronous()
        let commits = store.commitStatistics
        let body: JSONValue = [
            "ledger_synchronous": .string([0: "off", 1: "normal", 2: "full", 3: "extra"][synchronous] ?? "unknown"),
            "status": "ok",
            "version": .string(Kernel.version),
            "home": .string(home.root.path),
            "started_at": .string(WireFormat.timestamp(startedAt)),
            "uptime_seconds": .int(Int(Date().timeIntervalSince(startedAt))),
            "sessions": .int(sessions),
            "events": .int(lastSeq),
            "subscribers": .int(store.ledger.bus.subscriberCount),
            "providers": .array(config.providers.map { .string($0.name) }),
            // Write transactions committed in groups (one fsync each), and how many wait for the writer now.
            "writes": [
                "commits": .int(commits.groups), "transactions": .int(commits.transactions),
                "waiting": .int(store.writesWaiting),
            ],
            "embedding_backlog": try await memory.embeddingBacklog().map(JSONValue.int) ?? .null,
        ]
        return body
    }

    /// The Prometheus text: the ledger's counts brought up to date, the states read now, then the registry.
    @Sendable func metrics(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try await ledgerMetrics.catchUp()
        try await ledgerMetrics.states(
            sandbox: runtime.sandbox.rung,
            startedAt: startedAt,
            subscribers: store.ledger.bus.subscriberCount
        )
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: telemetry.registry.emitToBuffer()))
        )
    }

    /// Streams the ledger as JSON Lines, one canonical envelope a line.
    @Sendable func export(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let after = try request.intQuery("after", default: 0, range: 0...Int.max)
        let ledger = store.ledger
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { @concurrent writer in
                var lines: [String] = []
                var cursor = after
                // Page through so memory stays flat however long the ledger is.
                while true {
                    lines.removeAll(keepingCapacity: true)
                    let page = try await ledger.events(after: cursor, limit: 1000)
                    guard let last = page.last else { break }
                    for event in page { lines.append(event.envelope.canonicalJSON) }
                    try await writer.write(ByteBuffer(string: lines.joined(separator: "\n") + "\n"))
                    cursor = last.seq
                }
                try await writer.finish(nil)
            }
        )
    }
}
