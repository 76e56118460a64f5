public import Foundation
public import OspreyCore
import OspreySandbox
public import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// A deterministic check a routine runs before it would ever call a model: its observation is compared with
/// the previous one, and only a change wakes the agent.
public enum RoutineCheck: Hashable, Sendable {
    /// A workspace file: missing, or its size and SHA-256.
    case file(path: String)
    /// A command's exit code, run through the sandbox ladder like any other command.
    case command(String)
    /// Whether free disk space under the workspace is below a threshold.
    case disk(minFreeBytes: Int)
    /// Whether available memory is below a threshold.
    case memory(minAvailableBytes: Int)

    /// Parses `{"kind":"file","path":…}`, `{"kind":"command","command":…}`, `{"kind":"disk","min_free_bytes":N}`,
    /// `{"kind":"memory","min_available_bytes":N}`; anything else is a clear error.
    public init(json: JSONValue) throws {
        guard let object = json.objectValue, let kind = object["kind"]?.stringValue else {
            throw ToolArgumentError(description: "a check must be an object with a \"kind\"")
        }
        func require<T>(_ key: String, _ value: T?) throws -> T {
            guard let value else { throw ToolArgumentError(description: "a \(kind) check needs \"\(key)\"") }
            return value
        }
        switch kind {
        case "file": self = .file(path: try require("path", object["path"]?.stringValue))
        case "command": self = .command(try require("command", object["command"]?.stringValue))
        case "disk": self = .disk(minFreeBytes: try require("min_free_bytes", object["min_free_bytes"]?.intValue))
        case "memory":
            self = .memory(
                minAvailableBytes: try require("min_available_bytes", object["min_available_bytes"]?.intValue)
            )
        default:
            throw ToolArgumentError(description: "unknown check kind '\(kind)' (file, command, disk, memory)")
        }
    }

    /// Observes the check now; equal observations mean nothing changed.
    public func observe(in context: ToolContext) async -> String {
        switch self {
        case .file(let path):
            guard let (data, _) = try? context.workspace.read(path, limit: 64 << 20) else { return "missing" }
            return "\(data.count) bytes, sha256 \(Event.sha256Hex(String(decoding: data, as: UTF8.self)))"
        case .command(let line):
            if case .deny(let reason) = context.commandPolicy.evaluate(line) { return "refused: \(reason)" }
            let root = context.workspace.root.path
            guard case .success(let launch) = context.sandbox.launch(["/bin/sh", "-c", line], workspace: root) else {
                return "refused: no sandbox"
            }
            defer { launch.release() }
            let result = try? await CommandRunner.run(
                launch.argv,
                environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": root, "LANG": "C.UTF-8"],
                directory: root,
                timeout: context.commandTimeout,
                outputLimit: 4096
            )
            return result.map { $0.timedOut ? "timed out" : "exit \($0.exitCode.map(String.init) ?? "signal")" }
                ?? "failed to start"
        case .disk(let minimum):
            var stats = statvfs()
            guard statvfs(context.workspace.root.path, &stats) == 0 else { return "unknown" }
            let free = Int(stats.f_bavail) * Int(stats.f_frsize)
            return free < minimum ? "low" : "ok"
        case .memory(let minimum):
            let info = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
            let line = info.split(separator: "\n").first { $0.hasPrefix("MemAvailable:") } ?? ""
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
            return kilobytes * 1024 < minimum ? "low" : "ok"
        }
    }
}
