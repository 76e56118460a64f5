public import Foundation
public import OspreyCore
public import OspreyStore
public import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// The system tools: the host's health, processes, services, logs, network, disks and packages as typed JSON.
///
/// Reads need the agent's `host = "read"`; changes (kill, service start/stop/restart, package install/remove) need
/// `host = "operate"` and are dangerous calls a human approves, all through the one check point. What comes from
/// processes, logs, units and file names can be written by anyone on the machine: it is untrusted output.
public enum HostTools {
    public static var all: [any Tool] {
        [SystemHealth(), Processes(), Services(), JournalLogs(), NetworkInfo(), DiskUsage(), Packages()]
    }

    /// Their names (and `safe_switch`'s): granted only to an agent whose `host` is not `none`.
    public static let names: Set<String> = [
        "system_health", "processes", "services", "journal_logs", "network_info", "disk_usage", "packages",
        "safe_switch", "incident",
    ]

    /// Runs a host program directly (not in the workspace sandbox: the system tools and SafeSwitch act on the host
    /// by design), with a PATH of the system's directories; a missing program is a clear error.
    static func run(_ argv: [String], timeout: Duration = .seconds(30), outputLimit: Int) async throws -> CommandResult
    {
        guard let program = CommandRunner.which(argv[0]) else {
            throw ToolArgumentError(description: "\(argv[0]) is not installed on this machine")
        }
        return try await CommandRunner.run(
            [program] + argv.dropFirst(),
            environment: [
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "DEBIAN_FRONTEND": "noninteractive",
            ],
            directory: "/",
            timeout: timeout,
            outputLimit: outputLimit
        )
    }

    /// ``run(_:timeout:outputLimit:)`` with the tool call's output limit.
    static func run(
        _ argv: [String],
        context: ToolContext,
        timeout: Duration = .seconds(30)
    ) async throws
        -> CommandResult
    {
        try await run(argv, timeout: timeout, outputLimit: context.outputLimit)
    }

    /// Debian's package names: lower-case letters, digits, `+`, `-`, `.`, starting with a letter or digit, two to
    /// 101 of them (the `packages` tool and SafeSwitch plans check names by this one rule).
    static func isPackageName(_ name: String) -> Bool {
        name.range(of: "^[a-z0-9][a-z0-9+.-]{1,100}$", options: .regularExpression) != nil
    }

    /// Whether systemd runs this machine (its runtime directory exists).
    static var systemd: Bool { FileManager.default.fileExists(atPath: "/run/systemd/system") }

    static let unavailable: JSONValue = [
        "available": false, "reason": "systemd is not running on this machine (no /run/systemd/system)",
    ]

    /// Whether `name` is a unit name systemd would accept, and nothing a shell or an option could read otherwise.
    static func isUnitName(_ name: String) -> Bool {
        name.range(of: #"^[A-Za-z0-9@:._\\-]{1,200}$"#, options: .regularExpression) != nil && !name.hasPrefix("-")
    }

    /// `name`, when it is a unit name (``isUnitName(_:)``).
    static func unit(_ name: String?) throws -> String {
        guard let name, isUnitName(name) else {
            throw ToolArgumentError(description: "a unit name is required (letters, digits, @ : . _ - \\)")
        }
        return name
    }

    static func assessment(_ access: HostAccess, untrusted: Bool) -> ToolAssessment {
        var assessment = ToolAssessment(risk: access == .operate ? .dangerous : .read, untrustedOutput: untrusted)
        assessment.host = access
        return assessment
    }

    static func text(_ result: CommandResult) -> String {
        result.timedOut ? "timed out" : result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// `system_health`: CPU (cores, use, load), memory, swap, disks, uptime, temperatures.
public struct SystemHealth: Tool {
    public struct Arguments: Decodable {}
    public init() {}
    public var definition: ToolDefinition {
        ToolDefinition(
            name: "system_health",
            description: "The host's health: CPU use and load, memory, swap, disks, uptime, temperatures.",
            properties: [:]
        )
    }
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        HostTools.assessment(.read, untrusted: false)
    }
    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        try await Workspace.offload { HostReadings.health() }.canonicalJSON
    }
}

/// `processes`: list or top by CPU or memory; `kill` (dangerous) signals one.
public struct Processes: Tool {
    public struct Arguments: Decodable {
        var action: String?
        var sort: String?
        var limit: Int?
        var pid: Int?
        var signal: String?
    }
    public init() {}
    public var definition: ToolDefinition {
        ToolDefinition(
            name: "processes",
            description: "The host's processes: list (by pid) or top (by cpu or memory), or kill one (needs approval).",
            properties: [
                "action": .argument("string", oneOf: ["list", "top", "kill"]),
                "sort": .argument("string", "top's order", oneOf: ["cpu", "memory"]),
                "limit": .argument("integer", "at most this many (default 20)"), "pid": .argument("integer"),
                "signal": .argument("string", "kill's signal", oneOf: ["TERM", "KILL", "INT", "HUP"]),
            ]
        )
    }
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        HostTools.assessment(arguments.action == "kill" ? .operate : .read, untrusted: true)
    }
    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let limit = min(max(arguments.limit ?? 20, 1), 500)
        switch arguments.action ?? "list" {
        case "list", "top":
            var list = try await Workspace.offload { HostReadings.processes() }
            if arguments.action == "top" {
                let key = arguments.sort == "memory" ? "rss_bytes" : "cpu_percent"
                list.sort { ($0[key]?.doubleValue ?? 0) > ($1[key]?.doubleValue ?? 0) }
            }
            return (["count": .int(list.count), "processes": .array(Array(list.prefix(limit)))] as JSONValue)
                .canonicalJSON
        case "kill":
            guard let pid = arguments.pid, pid > 1 else {
                throw ToolArgumentError(description: "kill needs a pid above 1")
            }
            guard pid != Int(getpid()), pid != Int(getppid()) else {
                throw ToolArgumentError(description: "the gateway does not kill itself")
            }
            let signals: [String: Int32] = ["TERM": SIGTERM, "KILL": SIGKILL, "INT": SIGINT, "HUP": SIGHUP]
            guard let number = signals[arguments.signal ?? "TERM"] else {
                throw ToolArgumentError(description: "signal must be TERM, KILL, INT or HUP")
            }
            guard Glibc.kill(pid_t(pid), number) == 0 else {
                throw ToolArgumentError(description: "kill \(pid): \(String(cString: strerror(errno)))")
            }
            return (["pid": .int(pid), "signal": .string(arguments.signal ?? "TERM"), "sent": true] as JSONValue)
                .canonicalJSON
        default:
            throw ToolArgumentError(description: "action must be list, top or kill")
        }
    }
}

/// `services`: systemd units (list, status with recent journal lines; start, stop, restart need approval).
public struct Services: Tool {
    public struct Arguments: Decodable {
        var action: String?
        var unit: String?
    }
    public init() {}
    public var definition: ToolDefinition {
        ToolDefinition(
            name: "services",
            description:
                "systemd units: list, status (with recent log lines), or start / stop / restart (need approval).",
            properties: [
                "action": .argument("string", oneOf: ["list", "status", "start", "stop", "restart"]),
                "unit": .argument("string", "a unit, e.g. nginx.service"),
            ]
        )
    }
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        HostTools.assessment(
            ["start", "stop", "restart"].contains(arguments.action) ? .operate : .read,
            untrusted: true
        )
    }
    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        guard HostTools.systemd else { return HostTools.unavailable.canonicalJSON }
        switch arguments.action ?? "list" {
        case "list":
            let result = try await HostTools.run(
                ["systemctl", "list-units", "--type=service", "--all", "--no-pager", "--plain", "--no-legend"],
                context: context
            )
            let units = HostTools.text(result).split(separator: "\n").compactMap { line -> JSONValue? in
                let fields = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: true)
                guard fields.count >= 4 else { return nil }
                return [
                    "unit": .string(String(fields[0])), "load": .string(String(fields[1])),
                    "active": .string(String(fields[2])), "sub": .string(String(fields[3])),
                    "description": .string(fields.count > 4 ? String(fields[4]) : ""),
                ]
            }
            return (["available": true, "units": .array(units)] as JSONValue).canonicalJSON
        case "status":
            let unit = try HostTools.unit(arguments.unit)
            let show = try await HostTools.run(
                [
                    "systemctl", "show", unit, "--property=ActiveState,SubState,LoadState,MainPID,Description",
                    "--no-pager",
                ],
                context: context
            )
            var status: [String: JSONValue] = ["available": true, "unit": .string(unit)]
            for line in HostTools.text(show).split(separator: "\n") {
                let pair = line.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { status[String(pair[0])] = .string(String(pair[1])) }
            }
            let journal = try await HostTools.run(
                ["journalctl", "-u", unit, "-n", "20", "--no-pager", "-o", "short-iso"],
                context: context
            )
            status["journal"] = .array(HostTools.text(journal).split(separator: "\n").map { .string(String($0)) })
            return JSONValue.object(status).canonicalJSON
        case let action where ["start", "stop", "restart"].contains(action):
            let unit = try HostTools.unit(arguments.unit)
            let result = try await HostTools.run(["systemctl", action, unit], context: context, timeout: .seconds(90))
            return
                ([
                    "unit": .string(unit), "action": .string(action), "ok": .bool(result.exitCode == 0),
                    "output": .string(HostTools.text(result)),
                ] as JSONValue).canonicalJSON
        default:
            throw ToolArgumentError(description: "action must be list, status, start, stop or restart")
        }
    }
}

/// `journal_logs`: systemd journal lines by unit, priority and time.
public struct JournalLogs: Tool {
    public struct Arguments: Decodable {
        var unit: String?
        var priority: String?
        var since: String?
        var lines: Int?
    }
    public init() {}
    public var definition: ToolDefinition {
        ToolDefinition(
            name: "journal_logs",
            description:
                "Journal lines, newest last: by unit, priority (emerg..debug) and since (e.g. \"-1h\", \"today\").",
            properties: [
                "unit": .argument("string"),
                "priority": .argument(
                    "string",
                    oneOf: ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
                ),
                "since": .argument("string", "journalctl --since: -1h, -30m, today, yesterday, 2026-12-01 10:00"),
                "lines": .argument("integer", "at most this many (default 100)"),
            ]
        )
    }
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        HostTools.assessment(.read, untrusted: true)
    }
    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        guard HostTools.systemd else { return HostTools.unavailable.canonicalJSON }
        var argv = [
            "journalctl", "--no-pager", "-o", "short-iso", "-n", String(min(max(arguments.lines ?? 100, 1), 2000)),
        ]
        if let unit = arguments.unit { argv += ["-u", try HostTools.unit(unit)] }
        if let priority = arguments.priority {
            guard ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"].contains(priority) else {
                throw ToolArgumentError(
                    description: "priority must be emerg, alert, crit, err, warning, notice, info or debug"
                )
            }
            argv += ["-p", priority]
        }
        if let since = arguments.since {
            guard since.range(of: #"^[-+]?[0-9A-Za-z :]{1,40}$"#, options: .regularExpression) != nil else {
                throw ToolArgumentError(description: "since must be like -1h, today or 2026-12-01 10:00")
            }
            argv += ["--since", since]
        }
        let result = try await HostTools.run(argv, context: context)
        return
            ([
                "available": true,
                "lines": .array(HostTools.text(result).split(separator: "\n").map { .string(String($0)) }),
            ] as JSONValue).canonicalJSON
    }
}

/// `network_info`: interfaces and addresses, listening sockets with their process, routes, DNS.
public struct NetworkInfo: Tool {
    public struct Arguments: Decodable {}
    public init() {}
    public var definition: ToolDefinition {
        ToolDefinition(
            name: "network_info",
            description:
                "The host's network: interfaces and addresses, listening sockets with their process, routes, DNS.",
            properties: [:]
        )
    }
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        HostTools.assessment(.read, untrusted: false)
    }
    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        try await Workspace.offload { HostReadings.network() }.canonicalJSON
    }
}

/// `disk_usage`: the largest directories under a path, in a capped walk.
public struct DiskUsage: Tool {
    public struct Arguments: Decodable {
        var path: String
        var depth: Int?
        var top: Int?
    }
    public init() {}
    public var definition: ToolDefinition {
        ToolDefinition(
            name: "disk_usage",
            description: "The largest directories under an absolute path (depth 1-3, at most 100,000 entries walked).",
            properties: [
                "path": .argument("string", "absolute"), "depth": .argument("integer"),
                "top": .argument("integer", "how many directories (default 20)"),
            ],
            required: ["path"]
        )
    }
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        var assessment = HostTools.assessment(.read, untrusted: true)
        if !arguments.path.hasPrefix("/") || arguments.path.split(separator: "/").contains("..") {
            assessment.refusal = "disk_usage takes an absolute path without .."
            assessment.refusalRule = "fs_roots"
        }
        return assessment
    }
    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let depth = min(max(arguments.depth ?? 1, 1), 3)
        let top = min(max(arguments.top ?? 20, 1), 200)
        let path = arguments.path
        return try await Workspace.offload {
            HostReadings.diskUsage(under: path, depth: depth, top: top, limit: 100_000)
        }.canonicalJSON
    }
}

/// `packages`: installed Debian packages and versions; install and remove need approval.
public struct Packages: Tool {
    public struct Arguments: Decodable {
        var action: String?
        var query: String?
        var names: [String]?
    }
    public init() {}
    public var definition: ToolDefinition {
        ToolDefinition(
            name: "packages",
            description:
                "Debian packages: list installed ones (optionally whose name contains query), install or remove (need approval).",
            properties: [
                "action": .argument("string", oneOf: ["list", "install", "remove"]), "query": .argument("string"),
                "names": .stringsArgument,
            ]
        )
    }
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        HostTools.assessment(["install", "remove"].contains(arguments.action) ? .operate : .read, untrusted: false)
    }
    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        switch arguments.action ?? "list" {
        case "list":
            let installed = try await Workspace.offload {
                HostReadings.packages((try? String(contentsOfFile: "/var/lib/dpkg/status", encoding: .utf8)) ?? "")
            }
            let matching = installed.filter { arguments.query.map($0.name.contains) ?? true }
            return
                ([
                    "count": .int(matching.count),
                    "packages": .array(
                        matching.prefix(500).map { ["name": .string($0.name), "version": .string($0.version)] }
                    ),
                ] as JSONValue).canonicalJSON
        case let action where ["install", "remove"].contains(action):
            let names = arguments.names ?? []
            guard !names.isEmpty,
                names.allSatisfy(HostTools.isPackageName)
            else { throw ToolArgumentError(description: "names must be Debian package names") }
            let result = try await HostTools.run(
                ["apt-get", action, "-y", "--no-install-recommends"] + names,
                context: context,
                timeout: .seconds(600)
            )
            return
                ([
                    "action": .string(action), "names": .array(names.map(JSONValue.string)),
                    "ok": .bool(result.exitCode == 0),
                    "output": .string(String(HostTools.text(result).suffix(4000))),
                ] as JSONValue).canonicalJSON
        default:
            throw ToolArgumentError(description: "action must be list, install or remove")
        }
    }
}
