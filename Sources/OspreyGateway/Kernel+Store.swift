public import Foundation
public import OspreyCore
public import OspreyStore

extension Kernel {
    /// The store `[store]` names: the home's SQLite file, or a PostgreSQL database shared with other gateways (the
    /// password resolved from the secret store or the environment, the node named after the host by default).
    public static func openStore(
        home: Home,
        config: OspreyConfig,
        durability: Store.Durability,
        telemetry: Telemetry
    ) async throws -> Store {
        switch config.store.backend {
        case .sqlite:
            return try Store.open(home: home, durability: durability, metrics: telemetry.factory)
        case .postgres:
            let secrets = SecretStore(home: home)
            var target = try PostgresTarget(url: config.store.url ?? "")
            target.password = try AgentRuntime.resolve(
                config.store.password,
                owner: "[store] password",
                secrets: secrets
            )
            if config.store.password != nil, target.password == nil {
                throw ConfigError("[store] password: \(config.store.password!) is not set")
            }
            return try await Store.open(
                postgres: target,
                node: config.store.node ?? ProcessInfo.processInfo.hostName,
                ledgerKey: try home.readLedgerKey(),
                redactor: Redactor(secrets: try secrets.allValues()),
                metrics: telemetry.factory
            )
        }
    }
}
