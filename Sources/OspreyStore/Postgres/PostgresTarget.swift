import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL database is, from a `postgres://` URL in libpq's form.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or a Unix socket with the socket's folder as `host`:
/// `postgres://USER@/DATABASE?host=/run/postgresql&port=5432`. `sslmode` is `disable` (the default on a socket or a
/// loopback address), `prefer` (the default elsewhere, as libpq's), `require` (encrypted, certificate unchecked) or
/// `verify-full`. The password is never part of ``description``.
public struct PostgresTarget: Sendable, CustomStringConvertible {
    public enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case socket(path: String)
    }

    public enum TLSMode: String, Sendable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(
        endpoint: Endpoint,
        username: String,
        password: String? = nil,
        database: String,
        tls: TLSMode = .disable
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a URL; a malformed one, an unknown `sslmode` or a missing user or database is a clear error.
    public init(url text: String) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme)
        else {
            throw StoreError.invalid(
                "not a PostgreSQL URL (postgres://user@host:port/database): \(Self.hidingPassword(text))"
            )
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard let value = item.value, query[item.name] == nil else {
                throw StoreError.invalid("the PostgreSQL URL's parameter '\(item.name)' is empty or repeated")
            }
            guard ["host", "port", "sslmode", "user", "password", "dbname"].contains(item.name) else {
                throw StoreError.invalid("the PostgreSQL URL's parameter '\(item.name)' is not known")
            }
            query[item.name] = value
        }
        guard let username = components.user ?? query["user"], !username.isEmpty else {
            throw StoreError.invalid("the PostgreSQL URL names no user")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard let database = query["dbname"] ?? (path.isEmpty ? nil : path), !database.contains("/") else {
            throw StoreError.invalid("the PostgreSQL URL names no database (postgres://user@host/DATABASE)")
        }
        var port = components.port ?? 5432
        if let text = query["port"] {
            guard let number = Int(text), (1...65535).contains(number) else {
                throw StoreError.invalid("the PostgreSQL URL's port '\(text)' is not a port number")
            }
            port = number
        }
        let host = query["host"] ?? components.host ?? ""
        let endpoint: Endpoint
        if host.isEmpty || host.hasPrefix("/") {
            endpoint = .socket(path: (host.isEmpty ? "/run/postgresql" : host) + "/.s.PGSQL.\(port)")
        } else {
            endpoint = .tcp(host: host, port: port)
        }
        let local: Bool
        switch endpoint {
        case .socket: local = true
        case .tcp(let host, _): local = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host)
        }
        let mode = query["sslmode"] ?? (local ? "disable" : "prefer")
        guard let tls = TLSMode(rawValue: mode) else {
            throw StoreError.invalid("sslmode '\(mode)' is not one of disable, prefer, require, verify-full")
        }
        self.init(
            endpoint: endpoint,
            username: username.removingPercentEncoding ?? username,
            password: (components.password ?? query["password"]).map { $0.removingPercentEncoding ?? $0 },
            database: database,
            tls: tls
        )
    }

    public var description: String {
        switch endpoint {
        case .tcp(let host, let port): "postgres://\(username)@\(host):\(port)/\(database)"
        case .socket(let path): "postgres://\(username)@/\(database) (socket \(path))"
        }
    }

    static func hidingPassword(_ text: String) -> String {
        text.replacingOccurrences(of: #"(://[^:/@]*:)[^@]*@"#, with: "$1***@", options: .regularExpression)
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tls {
        case .disable: .disable
        case .prefer: .prefer(Self.unverified)
        case .require: .require(Self.unverified)
        case .verifyFull: .require(.makeClientConfiguration())
        }
    }

    private static var unverified: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    /// The pool's configuration (at most `connections` at once); its connections name the node in
    /// `pg_stat_activity.application_name` (`osprey:NODE`).
    func clientConfiguration(connections: Int, node: String) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            configuration = .init(
                host: host,
                port: port,
                username: username,
                password: password,
                database: database,
                tls: clientTLS
            )
        case .socket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.maximumConnections = connections
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "osprey:" + node)]
        return configuration
    }

    /// Runs `body` on a connection of its own, outside the pool (a leader's lock, a LISTEN), closed afterwards
    /// whatever happens: PostgreSQL ends the session, and with it the session's locks and LISTENs.
    func withOwnConnection<T>(
        node: String,
        logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        var configuration = try connectionConfiguration()
        configuration.options.additionalStartupParameters = [("application_name", "osprey:" + node)]
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let value = try await body(connection)
            try? await connection.close().get()  // the session is over either way; a failed close leaves nothing
            return value
        } catch {
            try? await connection.close().get()
            throw error
        }
    }

    /// One connection of its own (a leader's lock, a LISTEN), outside the pool.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        switch endpoint {
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS =
                switch tls {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: Self.unverified))
                case .require: .require(try NIOSSLContext(configuration: Self.unverified))
                case .verifyFull: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            return .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .socket(let path):
            return .init(unixSocketPath: path, username: username, password: password, database: database)
        }
    }
}
