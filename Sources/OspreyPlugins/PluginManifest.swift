import Foundation
public import OspreyCore

#if canImport(Glibc)
import Glibc
#endif

/// A plugin's `plugin.toml`: who it is, the tools it exports with their JSON schemas, the module that implements
/// them, and what it may use.
///
/// ```toml
/// name = "textstats"            # 1-32 of a-z 0-9 - _ (no __); its tools are textstats__<tool>
/// version = "1.0.0"
/// description = "Counts words and lines."
/// module = "textstats.wasm"     # beside plugin.toml
/// abi = "command"               # WASI preview 1: the call as JSON on stdin, the answer on stdout
///
/// [limits]
/// fuel = 500_000_000            # WebAssembly operators per call
/// memory_mb = 64                # the module's linear memory, in MiB
/// wall_seconds = 10             # turned into fuel: at most wall_seconds × 100 M operators
///
/// [[tools]]
/// name = "count"
/// description = "Count the words and lines of a text."
/// parameters = { type = "object", properties = { text = { type = "string" } }, required = ["text"] }
/// ```
///
/// Every error names the field it is about.
public struct PluginManifest: Hashable, Sendable {
    public struct ExportedTool: Hashable, Sendable {
        public var name: String
        public var description: String
        public var parameters: JSONValue
    }

    /// How the host talks to the module.
    public enum ABI: String, Hashable, Sendable {
        /// A WASI preview-1 command: `{"tool", "arguments"}` as JSON on stdin, the answer on stdout, a fresh
        /// instance per call, no preopened files, no environment; the host imports (``PluginHost``) as granted.
        case command
        /// One instance kept between calls (so a plugin keeps state): the host writes the request into memory the
        /// module gives (`osprey_alloc(len) -> ptr`), calls `osprey_call(ptr, len) -> i64` and reads the answer at
        /// the pointer and length packed in the result (`ptr << 32 | len`).
        case reactor
    }

    /// What a plugin may reach through the host imports (``PluginHost``), each a list the host checks every call
    /// against: a request for anything else is denied, and the denial is a `policy.decision` event.
    ///
    /// ```toml
    /// [capabilities]
    /// read = ["data/", "notes/*.md"]   # workspace paths (a folder ending in /, a file, or a glob)
    /// write = ["out/"]
    /// hosts = ["api.example.com"]      # http_fetch, also on the agent's egress allowlist, through the SSRF guard
    /// secrets = ["WEATHER_KEY"]        # from the secret store; redacted from what the plugin answers
    /// kv = ["cache/"]                  # key prefixes of the plugin's own store ("*": any key)
    /// ```
    public struct Capabilities: Hashable, Sendable {
        public var read: [String] = []
        public var write: [String] = []
        public var hosts: [String] = []
        public var secrets: [String] = []
        public var kv: [String] = []

        public init() {}

        static let keys = ["read", "write", "hosts", "secrets", "kv"]

        init(_ value: JSONValue?) throws {
            guard let value else { return }
            guard let table = value.objectValue else {
                throw PluginError.manifest("plugin.toml: capabilities must be a table")
            }
            if let unknown = table.keys.sorted().first(where: { !Self.keys.contains($0) }) {
                throw PluginError.manifest(
                    "plugin.toml: capabilities.\(unknown) is not a capability (\(Self.keys.joined(separator: ", ")))"
                )
            }
            func list(_ key: String) throws -> [String] {
                guard let entry = table[key] else { return [] }
                guard let items = entry.arrayValue, items.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                    throw PluginError.manifest("plugin.toml: capabilities.\(key) must be an array of non-empty strings")
                }
                return items.compactMap(\.stringValue)
            }
            read = try list("read")
            write = try list("write")
            for (key, path) in zip(["read", "write"], [read, write]).flatMap({ key, paths in paths.map { (key, $0) } })
            where path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                throw PluginError.manifest(
                    "plugin.toml: capabilities.\(key) entry '\(path)' must be a path inside the workspace"
                )
            }
            hosts = try list("hosts").map { $0.lowercased() }
            if let bad = hosts.first(where: {
                $0.range(of: #"^(\*\.)?[a-z0-9.:\[\]-]+$"#, options: .regularExpression) == nil
            }) {
                throw PluginError.manifest("plugin.toml: capabilities.hosts entry '\(bad)' is not a host name")
            }
            secrets = try list("secrets")
            kv = try list("kv")
        }

        /// Whether the plugin may read (or write) the workspace-relative `path`: a grant ending in `/` covers
        /// everything below it, one with `*` or `?` is a glob (`*` stays within a folder), any other names one file.
        public func allows(_ path: String, writing: Bool) -> Bool {
            (writing ? write : read).contains { grant in
                if grant.hasSuffix("/") { return path.hasPrefix(grant) }
                if grant.contains("*") || grant.contains("?") { return fnmatch(grant, path, FNM_PATHNAME) == 0 }
                return path == grant
            }
        }

        /// Whether `key` is under one of the granted prefixes.
        public func allows(key: String) -> Bool { kv.contains { $0 == "*" || key.hasPrefix($0) } }

        /// What the plugin may reach, in words (`osprey plugins info` and `install` show it).
        public var summary: String {
            let parts = [
                ("reads", read), ("writes", write), ("fetches from", hosts), ("secrets", secrets), ("store keys", kv),
            ].filter { !$0.1.isEmpty }.map { "\($0.0) \($0.1.joined(separator: ", "))" }
            return parts.isEmpty ? "nothing beyond its input" : parts.joined(separator: "; ")
        }

        /// The risk a call of one of the plugin's tools carries, by what it may reach.
        public var risk: ToolRisk { !hosts.isEmpty ? .network : !write.isEmpty ? .write : .read }
    }

    public var name: String
    public var version: String
    public var description: String
    public var module: String
    public var abi: ABI
    public var tools: [ExportedTool]
    /// Operators per call, after the wall-time cap is folded in.
    public var fuel: UInt64
    public var memoryBytes: Int
    public var wallSeconds: Int
    /// What the plugin asks for beyond pure computation, through the host imports; everything else is denied.
    public var capabilities: Capabilities

    /// Operators a second, roughly, on this interpreter: how wall time becomes fuel.
    public static let fuelPerSecond: UInt64 = 100_000_000

    public static let fileName = "plugin.toml"

    public init(toml text: String) throws {
        let root: JSONValue
        do {
            root = try TOML.parse(text)
        } catch {
            throw PluginError.manifest("plugin.toml: \(error)")
        }
        guard let table = root.objectValue else { throw PluginError.manifest("plugin.toml: not a table") }
        let known: Set<String> = ["name", "version", "description", "module", "abi", "limits", "tools", "capabilities"]
        if let unknown = table.keys.sorted().first(where: { !known.contains($0) }) {
            throw PluginError.manifest("plugin.toml: unknown key '\(unknown)'")
        }
        func string(_ key: String, in table: [String: JSONValue], at path: String) throws -> String {
            guard let value = table[key]?.stringValue, !value.isEmpty else {
                throw PluginError.manifest("plugin.toml: \(path)\(key) is required: a non-empty string")
            }
            return value
        }
        name = try string("name", in: table, at: "")
        guard Self.isName(name) else {
            throw PluginError.manifest("plugin.toml: name must be 1-32 of a-z 0-9 - _ (no __), not '\(name)'")
        }
        version = try string("version", in: table, at: "")
        description = table["description"]?.stringValue ?? ""
        module = try string("module", in: table, at: "")
        guard module.hasSuffix(".wasm"), !module.contains("/"), !module.hasPrefix(".") else {
            throw PluginError.manifest("plugin.toml: module must be a .wasm file beside plugin.toml, not '\(module)'")
        }
        let abiName = table["abi"]?.stringValue ?? "command"
        guard let abi = ABI(rawValue: abiName) else {
            throw PluginError.manifest("plugin.toml: abi must be \"command\" or \"reactor\"")
        }
        self.abi = abi
        let limits = table["limits"]?.objectValue ?? [:]
        if let unknown = limits.keys.sorted().first(where: { !["fuel", "memory_mb", "wall_seconds"].contains($0) }) {
            throw PluginError.manifest("plugin.toml: unknown key 'limits.\(unknown)'")
        }
        func limit(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
            guard let value = limits[key] else { return fallback }
            guard let number = value.intValue, range.contains(number) else {
                throw PluginError.manifest(
                    "plugin.toml: limits.\(key) must be an integer in \(range.lowerBound)...\(range.upperBound)"
                )
            }
            return number
        }
        let fuel = UInt64(try limit("fuel", default: 500_000_000, range: 1_000...100_000_000_000))
        wallSeconds = try limit("wall_seconds", default: 10, range: 1...600)
        self.fuel = min(fuel, UInt64(wallSeconds) * Self.fuelPerSecond)
        memoryBytes = try limit("memory_mb", default: 64, range: 1...4096) << 20
        capabilities = try Capabilities(table["capabilities"])
        guard let entries = table["tools"]?.arrayValue, !entries.isEmpty else {
            throw PluginError.manifest("plugin.toml: tools is required: at least one [[tools]] table")
        }
        var names: Set<String> = []
        tools = try entries.enumerated().map { index, entry in
            let path = "tools[\(index)]."
            guard let tool = entry.objectValue else {
                throw PluginError.manifest("plugin.toml: tools[\(index)] must be a table")
            }
            let name = try string("name", in: tool, at: path)
            guard name.range(of: "^[a-z0-9_]{1,48}$", options: .regularExpression) != nil, !name.contains("__") else {
                throw PluginError.manifest("plugin.toml: \(path)name must be 1-48 of a-z 0-9 _ (no __), not '\(name)'")
            }
            guard names.insert(name).inserted else {
                throw PluginError.manifest("plugin.toml: \(path)name '\(name)' is exported twice")
            }
            let description = try string("description", in: tool, at: path)
            let parameters = tool["parameters"] ?? ["type": "object", "properties": [:]]
            guard parameters.objectValue != nil, parameters["type"] == "object" else {
                throw PluginError.manifest("plugin.toml: \(path)parameters must be a JSON schema of type object")
            }
            return ExportedTool(name: name, description: description, parameters: parameters)
        }
    }

    /// Whether `name` is a valid plugin name (so it can be used as a folder name safely).
    public static func isValidName(_ name: String) -> Bool { isName(name) }

    static func isName(_ name: String) -> Bool {
        name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil && !name.contains("__")
    }
}

/// What went wrong with a plugin, said so its author (or the model) can act on it.
public enum PluginError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The manifest is wrong; the message names the field.
    case manifest(String)
    /// The module cannot be used (not WebAssembly, imports the host does not offer, no `_start`).
    case module(String)
    /// A call ran out of its instruction budget.
    case outOfFuel(plugin: String, fuel: UInt64)
    /// A call wanted more memory than the cap.
    case memoryCap(plugin: String, bytes: Int)
    /// A call trapped or exited with an error.
    case failed(plugin: String, reason: String)
    /// A package is refused (unsigned, wrongly signed, tampered with, or holding what a package may not).
    case package(String)

    public var description: String {
        switch self {
        case .manifest(let message), .module(let message): message
        case .package(let message): "package refused: \(message)"
        case .outOfFuel(let plugin, let fuel):
            "plugin '\(plugin)' ran out of fuel (\(fuel) operations): it was stopped"
        case .memoryCap(let plugin, let bytes):
            "plugin '\(plugin)' wanted more than its memory cap of \(bytes >> 20) MiB: it was stopped"
        case .failed(let plugin, let reason): "plugin '\(plugin)' failed: \(reason)"
        }
    }
}
