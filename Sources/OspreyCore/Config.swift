public import Foundation

/// Why the configuration cannot be used: the key and what is wrong with it.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The settings in `config.toml`, with defaults for everything left out.
public struct OspreyConfig: Hashable, Sendable {
    /// `[gateway]`: where the daemon listens and how much it accepts.
    public struct Gateway: Hashable, Sendable {
        public var host = "127.0.0.1"
        public var port = 18470
        /// Requests with a larger body get 413 before the body is read.
        public var maxBodyBytes = 1_048_576
        /// Listening on a non-loopback address also needs `--allow-remote` on the command line.
        public var allowRemote = false
        /// Origins, besides the gateway's own, that may open a WebSocket (e.g. a dashboard on another port).
        public var allowedOrigins: [String] = []
        public init() {}
    }

    /// `[auth]`: how repeated bad tokens are slowed down.
    public struct Auth: Hashable, Sendable {
        /// Failures from one client address allowed within `windowSeconds` before it is locked out.
        public var maxFailures = 10
        public var windowSeconds = 60
        public var lockoutSeconds = 300
        public init() {}
    }

    /// `[ledger]`: durability of event appends.
    public struct Ledger: Hashable, Sendable {
        /// `full` fsyncs every commit (no acknowledged event is lost on power failure); `normal` is faster.
        public var synchronous = "full"
        public init() {}
    }

    /// One `[[providers]]` entry.
    public struct Provider: Hashable, Sendable {
        public var name: String
        public var kind: String
        public var baseURL: String?
        public var apiKey: String?
        public var models: [String]
    }

    public var gateway = Gateway()
    public var auth = Auth()
    public var ledger = Ledger()
    public var providers: [Provider] = []

    public init() {}

    /// Reads a TOML document; unknown keys in known sections are errors, so a typo is not silently ignored.
    public init(toml text: String) throws {
        let document: JSONValue
        do {
            document = try TOML.parse(text)
        } catch let error as TOMLError {
            throw ConfigError("config.toml \(error)")
        }
        var reader = ConfigReader(root: document)
        try reader.read(into: &self)
    }

    /// Loads `config.toml` from a file; a missing file means all defaults.
    public static func load(from url: URL) throws -> OspreyConfig {
        guard FileManager.default.fileExists(atPath: url.path) else { return OspreyConfig() }
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigError("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try OspreyConfig(toml: text)
    }

    /// The file written on first start: every setting at its default, commented.
    public static let defaultText = """
        # Osprey configuration. Every setting below is shown at its default.
        # Restart the gateway after editing.

        [gateway]
        # Address to listen on. A non-loopback host also needs `osprey gateway --allow-remote`.
        host = "127.0.0.1"
        port = 18470
        # Request bodies larger than this are refused with 413 before they are read.
        max_body_bytes = 1048576
        # Origins besides the gateway's own that may open /api/ws (e.g. "http://localhost:5173").
        allowed_origins = []

        [auth]
        # After this many bad tokens from one address within window_seconds, the address is locked out.
        max_failures = 10
        window_seconds = 60
        lockout_seconds = 300

        [ledger]
        # "full": every event is fsynced before it is acknowledged. "normal": faster, may lose the
        # last events on power failure (never on a crash of the gateway alone).
        synchronous = "full"

        # LLM providers. The key is never written here in clear: use ${secret:NAME} or ${env:VAR}.
        # [[providers]]
        # name = "anthropic"
        # kind = "anthropic"
        # base_url = "https://api.anthropic.com"
        # api_key = "${env:ANTHROPIC_API_KEY}"
        # models = ["claude-sonnet-4-5"]

        """
}

/// Walks the parsed TOML with a path for every error message.
private struct ConfigReader {
    let root: JSONValue

    func table(_ name: String) throws -> [String: JSONValue]? {
        guard let value = root[name] else { return nil }
        guard let table = value.objectValue else { throw ConfigError("config.toml: [\(name)] must be a table") }
        return table
    }

    func checkKeys(_ table: [String: JSONValue], section: String, known: Set<String>) throws {
        if let unknown = table.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError("config.toml: unknown key '\(section).\(unknown)'")
        }
    }

    func int(_ table: [String: JSONValue], _ key: String, section: String, range: ClosedRange<Int>) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard case .int(let number) = value, range.contains(number) else {
            throw ConfigError(
                "config.toml: \(section).\(key) must be an integer in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return number
    }

    func string(_ table: [String: JSONValue], _ key: String, section: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let text = value.stringValue else { throw ConfigError("config.toml: \(section).\(key) must be a string") }
        return text
    }

    func bool(_ table: [String: JSONValue], _ key: String, section: String) throws -> Bool? {
        guard let value = table[key] else { return nil }
        guard let flag = value.boolValue else {
            throw ConfigError("config.toml: \(section).\(key) must be true or false")
        }
        return flag
    }

    func strings(_ table: [String: JSONValue], _ key: String, section: String) throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            throw ConfigError("config.toml: \(section).\(key) must be an array of strings")
        }
        return items.compactMap(\.stringValue)
    }

    mutating func read(into config: inout OspreyConfig) throws {
        if let gateway = try table("gateway") {
            try checkKeys(
                gateway,
                section: "gateway",
                known: ["host", "port", "max_body_bytes", "allow_remote", "allowed_origins"]
            )
            if let host = try string(gateway, "host", section: "gateway") { config.gateway.host = host }
            if let port = try int(gateway, "port", section: "gateway", range: 0...65535) { config.gateway.port = port }
            if let limit = try int(gateway, "max_body_bytes", section: "gateway", range: 1024...(1 << 30)) {
                config.gateway.maxBodyBytes = limit
            }
            if let flag = try bool(gateway, "allow_remote", section: "gateway") { config.gateway.allowRemote = flag }
            if let origins = try strings(gateway, "allowed_origins", section: "gateway") {
                config.gateway.allowedOrigins = origins
            }
        }
        if let auth = try table("auth") {
            try checkKeys(auth, section: "auth", known: ["max_failures", "window_seconds", "lockout_seconds"])
            if let value = try int(auth, "max_failures", section: "auth", range: 1...100_000) {
                config.auth.maxFailures = value
            }
            if let value = try int(auth, "window_seconds", section: "auth", range: 1...86_400) {
                config.auth.windowSeconds = value
            }
            if let value = try int(auth, "lockout_seconds", section: "auth", range: 0...86_400) {
                config.auth.lockoutSeconds = value
            }
        }
        if let ledger = try table("ledger") {
            try checkKeys(ledger, section: "ledger", known: ["synchronous"])
            if let mode = try string(ledger, "synchronous", section: "ledger") {
                guard ["full", "normal"].contains(mode) else {
                    throw ConfigError("config.toml: ledger.synchronous must be \"full\" or \"normal\"")
                }
                config.ledger.synchronous = mode
            }
        }
        if let providers = root["providers"] {
            guard let entries = providers.arrayValue else {
                throw ConfigError("config.toml: providers must be an array of tables ([[providers]])")
            }
            config.providers = try entries.enumerated().map { position, entry in
                let section = "providers[\(position)]"
                guard let table = entry.objectValue else {
                    throw ConfigError("config.toml: \(section) must be a table")
                }
                guard let name = try string(table, "name", section: section) else {
                    throw ConfigError("config.toml: \(section).name is required")
                }
                let kind = try string(table, "kind", section: section) ?? "openai"
                guard ["openai", "anthropic"].contains(kind) else {
                    throw ConfigError("config.toml: \(section).kind must be \"openai\" or \"anthropic\"")
                }
                return OspreyConfig.Provider(
                    name: name,
                    kind: kind,
                    baseURL: try string(table, "base_url", section: section),
                    apiKey: try string(table, "api_key", section: section),
                    models: try strings(table, "models", section: section) ?? []
                )
            }
        }
    }
}
