public import Foundation
public import OspreyCore

/// A SafeSwitch change plan, checked before anything is touched: the files it writes or deletes (only under the
/// operator's `[host] switch_paths` or the home's config.toml, never through a symbolic link), the services it
/// restarts, the Debian packages it installs or removes, the health checks that judge it, and its probation window.
public struct SwitchPlan: Sendable, Equatable {
    public struct FileChange: Sendable, Equatable {
        public var path: String
        /// The new content; nil deletes the file.
        public var content: String?
    }

    public enum Check: Sendable, Equatable {
        /// A GET on loopback that must answer `status`.
        case http(url: String, status: Int)
        /// A program (no shell) that must exit 0.
        case command([String])
        /// A systemd unit that must be active.
        case service(String)

        var json: JSONValue {
            switch self {
            case .http(let url, let status): ["kind": "http", "url": .string(url), "expect_status": .int(status)]
            case .command(let argv): ["kind": "command", "argv": .array(argv.map(JSONValue.string))]
            case .service(let unit): ["kind": "service", "unit": .string(unit)]
            }
        }
    }

    /// A change to the installed Debian packages, undone from the snapshot on rollback.
    public enum PackageChange: Sendable, Equatable {
        /// `apt-get install` of a package (at `version` when given).
        case install(name: String, version: String?)
        /// `dpkg -i` of a local `.deb` under `[host] switch_paths`.
        case deb(path: String)
        /// `dpkg --remove` of a package (refused by dpkg while another installed package depends on it).
        case remove(name: String)

        var json: JSONValue {
            switch self {
            case .install(let name, let version):
                version.map { ["install": .string(name), "version": .string($0)] } ?? ["install": .string(name)]
            case .deb(let path): ["deb": .string(path)]
            case .remove(let name): ["remove": .string(name)]
            }
        }
    }

    public var reason: String
    public var ttlSeconds: Int
    public var intervalSeconds: Int
    public var files: [FileChange]
    public var services: [String]
    public var packages: [PackageChange]
    public var checks: [Check]

    /// A plan refused, with what is wrong.
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads and checks a plan; `roots` are the granted directories, `configFile` the home's config.toml.
    public init(_ json: JSONValue, roots: [String], configFile: String) throws {
        guard let object = json.objectValue else { throw Invalid("a plan is a JSON object") }
        let known: Set<String> = [
            "reason", "ttl_seconds", "interval_seconds", "files", "services", "packages", "checks",
        ]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw Invalid("unknown field '\(unknown)'")
        }
        guard let reason = object["reason"]?.stringValue, !reason.isEmpty else {
            throw Invalid("'reason' is required: what the change is for")
        }
        self.reason = reason
        ttlSeconds = object["ttl_seconds"]?.intValue ?? 300
        intervalSeconds = object["interval_seconds"]?.intValue ?? 5
        guard (2...86_400).contains(ttlSeconds) else { throw Invalid("'ttl_seconds' must be 2...86400") }
        guard (1...3600).contains(intervalSeconds), intervalSeconds <= ttlSeconds else {
            throw Invalid("'interval_seconds' must be 1...3600 and at most ttl_seconds")
        }
        files = try (object["files"]?.arrayValue ?? []).map { entry in
            guard let path = entry["path"]?.stringValue else { throw Invalid("every file needs a 'path'") }
            let delete = entry["delete"] == true
            guard delete != (entry["content"]?.stringValue != nil) else {
                throw Invalid("\(path): give either 'content' or \"delete\": true")
            }
            return FileChange(
                path: try Self.place(path, roots: roots, configFile: configFile),
                content: entry["content"]?.stringValue
            )
        }
        guard Set(files.map(\.path)).count == files.count else { throw Invalid("a file appears twice in the plan") }
        services = try (object["services"]?.arrayValue ?? []).map { value in
            guard let unit = value.stringValue, HostTools.isUnitName(unit) else {
                throw Invalid("services are systemd unit names")
            }
            return unit
        }
        packages = try (object["packages"]?.arrayValue ?? []).map { try Self.package($0, roots: roots) }
        checks = try (object["checks"]?.arrayValue ?? []).map(Self.check)
        guard !files.isEmpty || !services.isEmpty || !packages.isEmpty else {
            throw Invalid("a plan changes at least one file, service or package")
        }
        guard !checks.isEmpty else { throw Invalid("a plan needs at least one health check") }
    }

    /// `{"install": NAME, "version"?: V}`, `{"deb": PATH}` or `{"remove": NAME}`, with Debian's name and version rules.
    static func package(_ value: JSONValue, roots: [String]) throws -> PackageChange {
        guard let entry = value.objectValue else { throw Invalid("a package change is an object") }
        let kinds = ["install", "deb", "remove"].filter { entry[$0] != nil }
        guard kinds.count == 1, let kind = kinds.first, let target = entry[kind]?.stringValue,
            Set(entry.keys).isSubset(of: [kind, "version"]), kind == "install" || entry["version"] == nil
        else {
            throw Invalid(
                "a package change is {\"install\": NAME, \"version\"?}, {\"deb\": PATH} or {\"remove\": NAME}"
            )
        }
        if kind == "deb" {
            guard target.hasSuffix(".deb") else { throw Invalid("\(target): a 'deb' is a .deb file") }
            let path = try place(target, roots: roots, configFile: "")
            guard FileManager.default.fileExists(atPath: path) else { throw Invalid("\(target) does not exist") }
            return .deb(path: path)
        }
        guard HostTools.isPackageName(target) else { throw Invalid("'\(target)' is not a Debian package name") }
        if kind == "remove" { return .remove(name: target) }
        let version = entry["version"]?.stringValue
        if let version,
            version.isEmpty
                || !version.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".+~:-".contains($0)) })
        {
            throw Invalid("'\(version)' is not a Debian version")
        }
        return .install(name: target, version: version)
    }

    static func check(_ value: JSONValue) throws -> Check {
        switch value["kind"]?.stringValue {
        case "http":
            guard let text = value["url"]?.stringValue, let url = URL(string: text), url.scheme == "http",
                ["127.0.0.1", "localhost", "::1", "[::1]"].contains(url.host ?? "")
            else { throw Invalid("an http check probes http://127.0.0.1, localhost or [::1] only") }
            return .http(url: text, status: value["expect_status"]?.intValue ?? 200)
        case "command":
            guard let argv = value["argv"]?.arrayValue?.compactMap(\.stringValue), !argv.isEmpty,
                argv.count == value["argv"]?.arrayValue?.count
            else { throw Invalid("a command check has 'argv': the program and its arguments (no shell)") }
            return .command(argv)
        case "service":
            guard let unit = value["unit"]?.stringValue, !unit.hasPrefix("-") else {
                throw Invalid("a service check names its 'unit'")
            }
            return .service(unit)
        default:
            throw Invalid("a check's 'kind' is http, command or service")
        }
    }

    /// The path, absolute and canonical, when it is the config file or under a granted root (its directory's real
    /// path, so a symbolic link cannot lead out) and not itself a symbolic link.
    static func place(_ path: String, roots: [String], configFile: String) throws -> String {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw Invalid("\(path): an absolute path without .. is required")
        }
        let file = URL(fileURLWithPath: path).standardizedFileURL
        let directory = file.deletingLastPathComponent().resolvingSymlinksInPath().path
        let resolved = directory == "/" ? "/" + file.lastPathComponent : directory + "/" + file.lastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Invalid("\(path): its directory does not exist")
        }
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: resolved)) != nil {
            throw Invalid("\(path) is a symbolic link: name the file it points to")
        }
        let config = URL(fileURLWithPath: configFile).standardizedFileURL.resolvingSymlinksInPath().path
        let granted = roots.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
        guard resolved == config || granted.contains(where: { resolved.hasPrefix($0 + "/") }) else {
            throw Invalid("\(path) is outside [host] switch_paths (\(roots.joined(separator: ", ")))")
        }
        return resolved
    }

    public var json: JSONValue {
        [
            "reason": .string(reason), "ttl_seconds": .int(ttlSeconds), "interval_seconds": .int(intervalSeconds),
            "files": .array(
                files.map { file in
                    file.content.map { ["path": .string(file.path), "bytes": .int($0.utf8.count)] }
                        ?? ["path": .string(file.path), "delete": true]
                }
            ),
            "services": .array(services.map(JSONValue.string)), "packages": .array(packages.map(\.json)),
            "checks": .array(checks.map(\.json)),
        ]
    }
}
