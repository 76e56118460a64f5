import Foundation

extension OspreyConfig {
    /// `[store]`: where the gateway keeps everything it stores.
    public struct Store: Hashable, Sendable {
        public enum Backend: String, Hashable, Sendable, CaseIterable {
            /// The home's SQLite file: one gateway, no server (the default).
            case sqlite
            /// A PostgreSQL database several gateways share.
            case postgres
        }

        public var backend = Backend.sqlite
        /// `postgres://USER@HOST:PORT/DATABASE` (or `?host=SOCKET_DIR`), with no password in it.
        public var url: String?
        /// `${secret:NAME}` or `${env:VAR}`: the database password, never in clear; nil for none (a socket's peer
        /// authentication, or trust).
        public var password: String?
        /// This gateway's name in the cluster (its leases and connections carry it); nil for the host's name.
        public var node: String?

        public init() {}
    }
}

extension ConfigReader {
    func store(_ table: [String: JSONValue]) throws -> OspreyConfig.Store {
        let section = try section(table, name: "store", known: ["backend", "url", "password", "node"])
        var store = OspreyConfig.Store()
        if let backend = try section.string("backend") {
            guard let known = OspreyConfig.Store.Backend(rawValue: backend) else {
                throw ConfigError("config.toml: store.backend must be \"sqlite\" or \"postgres\"")
            }
            store.backend = known
        }
        store.url = try section.string("url")
        store.password = try section.string("password")
        store.node = try section.string("node")
        switch store.backend {
        case .sqlite:
            guard store.url == nil, store.password == nil, store.node == nil else {
                throw ConfigError("config.toml: store.url, password and node are for backend = \"postgres\"")
            }
        case .postgres:
            guard let url = store.url, url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw ConfigError("config.toml: store.backend = \"postgres\" needs store.url = \"postgres://…\"")
            }
            if let components = URLComponents(string: url), components.password != nil {
                throw ConfigError(
                    "config.toml: store.url must not hold the password; set store.password = \"${secret:NAME}\""
                )
            }
            if let password = store.password, !(password.hasPrefix("${secret:") || password.hasPrefix("${env:")) {
                throw ConfigError(
                    "config.toml: store.password must be \"${secret:NAME}\" or \"${env:VAR}\", never in clear"
                )
            }
            if let node = store.node, node.range(of: #"^[A-Za-z0-9_.-]{1,64}$"#, options: .regularExpression) == nil {
                throw ConfigError("config.toml: store.node must be 1-64 letters, digits, '_', '-' or '.'")
            }
        }
        return store
    }
}
