import Foundation
public import Logging
import OspreyAgent
import OspreyChannels
import OspreyCore
import OspreyHost
import OspreyMCP
import OspreyMemory
import OspreyProviders
import OspreyScheduler
import OspreyStore
public import ServiceLifecycle

extension Kernel {
    /// Every long-running loop as its own service, for the daemon's `ServiceGroup` beside the HTTP server: each
    /// logs its failures and stops on graceful shutdown.
    public func services(logger: Logger) -> [any Service] {
        var services: [any Service] = [
            // Recovers what a crash left running, then runs the tasks the store commits. Tasks still running at
            // shutdown stay `running` in the store and resume at the next start.
            LoopService(logger: logger.component("supervisor")) { [supervisor] in await supervisor.run() },
            // Cron, `@every`, `@at` and event-triggered schedules.
            LoopService(logger: logger.component("scheduler")) { [scheduler] in await scheduler.run() },
            // Embeds memories as they are stored, picks up hand edits, consolidates daily; stops between items.
            LoopService(logger: logger.component("memory")) { [memory] in
                await withDiscardingTaskGroup { group in
                    group.addTask { await memory.run() }
                    group.addTask { await memory.maintain() }
                }
            },
            RateLimitWatcher(bus: store.ledger.bus, supervisor: supervisor, logger: logger.component("rate-limits")),
            // Resource pressure: shed low-priority tasks, refuse new runs, restart past the hard memory limit.
            ResourceGuard(
                settings: config.resources,
                monitor: ResourceMonitor(home: home.root.path),
                overload: runtime.overload,
                supervisor: supervisor,
                ledger: store.ledger,
                logger: logger.component("resources")
            ),
            // Health checks of the changes in probation; a failure or an ended window rolls back.
            LoopService(logger: logger.component("switch")) { [switches] in await switches.run() },
        ]
        if store.dialect == .postgres {
            // The events other gateways on the database commit, on this one's bus: its SSE and WebSocket clients,
            // its approvals and its event-triggered schedules hear of them.
            let feedLogger = logger.component("ledger-feed")
            services.append(LoopService(logger: feedLogger) { [store] in await store.feed(logger: feedLogger) })
            // A cancel asked of another gateway for a run on this one, heard through the feed.
            services.append(
                LoopService(logger: logger.component("run-cancels")) { [self] in await followCancelRequests() }
            )
        }
        if let witnessFile {
            services.append(
                LedgerWitness(file: witnessFile, ledger: store.ledger, logger: logger.component("witness"))
            )
        }
        if let schedule = backups.schedule {
            services.append(BackupService(job: backups, schedule: schedule, logger: logger.component("backup")))
        }
        if let server = runtime.localModel {
            var service = LocalModelService(server: server, logger: logger.component("local-model"))
            if config.localModel.start == "with_gateway" {
                service.opening = { [runtime] in
                    let agent = try await runtime.agent(named: "default")
                    return agent.routes.first?.provider == "local" ? agent.openingRequest() : nil
                }
            }
            services.append(service)
        }
        if !mcp.clients.isEmpty { services.append(MCPService(servers: mcp, logger: logger.component("mcp"))) }
        if config.tracing.enabled {
            services.append(
                TracingService(settings: config.tracing, ledger: store.ledger, logger: logger.component("tracing"))
            )
        }
        return services
    }

    /// `[[channels]]` with their connectors: each names a known agent and a token that resolves (else the gateway
    /// refuses to start with what is wrong).
    static func channelEntries(config: OspreyConfig, secrets: SecretStore) throws -> [ChannelHub.Entry] {
        try config.channels.map { settings in
            let owner = "channels '\(settings.name)'"
            guard AgentRuntime.knows(agent: settings.agent, in: config) else {
                throw ConfigError("\(owner): no agent named '\(settings.agent)' in config.toml")
            }
            guard let token = try AgentRuntime.resolve(settings.token, owner: owner, secrets: secrets), !token.isEmpty
            else { throw ConfigError("\(owner): the token \(settings.token) is not set") }
            return ChannelHub.Entry(
                settings: settings,
                connector: settings.connector(token: token, logger: Logger.current.component("channels"))
            )
        }
    }
}

extension Kernel {
    /// On a PostgreSQL database several gateways share: cancels this gateway's runs that a client asked another
    /// gateway to cancel (`run.cancel.requested`, heard through the ledger feed), until cancelled.
    public func followCancelRequests() async {
        await runtime.runs.followCancelRequests(bus: store.ledger.bus)
    }
}
