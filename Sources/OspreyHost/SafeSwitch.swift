import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import OspreyCore
public import OspreyStore
import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// SafeSwitch: a change to the host applied after a snapshot of everything it touches, then judged by health
/// checks through a probation window; it is rolled back from the snapshot when a check fails, when the window ends
/// without a commit, when asked, or, if the gateway died during probation, at the next start before anything else.
///
/// The snapshot (`<home>/switches/<id>/`: a manifest and the files' old bytes and modes) is written and synced before
/// the first file changes. Every step is a `switch.*` event; the store's row says which state won.
public actor SafeSwitch {
    let store: Store
    let directory: URL
    let roots: [String]
    let configFile: String
    let logger: Logger
    /// Where a `.deb` of an installed package's version is looked for, to undo a change to it (apt's cache).
    let packageArchives: [String]
    /// The changes in probation and when their next checks are due.
    var active: [SwitchRecord.ID: (plan: JSONValue, checks: [SwitchPlan.Check], due: Date, expires: Date)] = [:]
    /// Rung when a change enters probation: with none in probation, ``run()`` sleeps until then.
    let probation = Doorbell()

    public init(
        store: Store,
        home: Home,
        roots: [String],
        logger: Logger,
        packageArchives: [String] = ["/var/cache/apt/archives"]
    ) {
        self.store = store
        self.packageArchives = packageArchives
        self.directory = home.switchesDirectory
        self.roots = roots
        self.configFile = home.configFile.path
        self.logger = logger
    }

    /// An entry of a snapshot's manifest.
    struct Saved: Codable {
        var path: String
        var existed: Bool
        var mode: UInt16
        var blob: String?
    }

    // MARK: Begin, commit, rollback

    public func begin(_ json: JSONValue, actor: Principal, now: Date = Date()) async throws -> SwitchRecord {
        let plan = try SwitchPlan(json, roots: roots, configFile: configFile)
        if !plan.services.isEmpty, !HostTools.systemd {
            throw SwitchPlan.Invalid("this plan restarts services, but systemd is not running on this machine")
        }
        let id = SwitchRecord.ID.random(prefix: "sw")
        let folder = directory.appendingPathComponent(id.rawValue)
        do {
            try snapshot(plan.files.map(\.path), into: folder)
            try await snapshotPackages(plan.packages, into: folder)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        let expires = now.addingTimeInterval(TimeInterval(plan.ttlSeconds))
        let record = try await store.switches.begin(id, plan: plan.json, expiresAt: expires, actor: actor, now: now)
        do {
            for file in plan.files { try Self.apply(file) }
            try await applyPackages(plan.packages)
            try await restart(plan.services)
        } catch {
            _ = try await rollback(id, reason: "the change could not be applied: \(error)", actor: .system)
            throw SwitchPlan.Invalid("the change could not be applied and was rolled back: \(error)")
        }
        active[id] = (plan.json, plan.checks, now, expires)
        probation.ring()
        return record
    }

    public func commit(_ id: SwitchRecord.ID, actor: Principal) async throws -> SwitchRecord {
        let record = try await store.switches.end(
            id,
            as: .committed,
            outcome: ["reason": "committed"],
            actor: actor
        )
        active[id] = nil
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(id.rawValue))
        return record
    }

    /// Restores the snapshot, restarts the plan's services, runs its checks again and records it all.
    public func rollback(_ id: SwitchRecord.ID, reason: String, actor: Principal) async throws -> SwitchRecord {
        let current = try await store.switches.get(id)
        guard current.status == .probation else {
            throw StoreError.conflict("switch \(id.rawValue) is already \(current.status.rawValue)")
        }
        active[id] = nil
        let folder = directory.appendingPathComponent(id.rawValue)
        var restored: [JSONValue] = []
        var problems: [JSONValue] = []
        // A snapshot that cannot be read is recorded as the rollback's problem, never left in probation: the
        // switch ends either way, and what could not be restored is in its outcome for a human.
        let saved: [Saved]
        do {
            saved = try Self.manifest(in: folder)
        } catch {
            saved = []
            problems.append(.string("the snapshot cannot be read: \(error)"))
        }
        for entry in saved {
            do {
                try Self.restore(entry, from: folder)
                restored.append(.string(entry.path))
            } catch {
                problems.append(.string("\(entry.path): \(error)"))
            }
        }
        let packages = await restorePackages(from: folder)
        restored += packages.restored.map(JSONValue.string)
        problems += packages.problems.map(JSONValue.string)
        let services = current.plan["services"]?.arrayValue?.compactMap(\.stringValue) ?? []
        do { try await restart(services) } catch { problems.append(.string("restart: \(error)")) }
        let checks = (current.plan["checks"]?.arrayValue ?? []).compactMap { try? SwitchPlan.check($0) }
        let (healthy, results) = await run(checks)
        var outcome: [String: JSONValue] = [
            "reason": .string(reason), "restored": .array(restored), "healthy_after": .bool(healthy),
            "checks_after": results,
        ]
        if !problems.isEmpty { outcome["problems"] = .array(problems) }
        let record = try await store.switches.end(id, as: .rolledBack, outcome: .object(outcome), actor: actor)
        if problems.isEmpty { try? FileManager.default.removeItem(at: folder) }
        logger.warning("safe switch rolled back", metadata: ["switch": "\(id)", "reason": "\(reason)"])
        return record
    }

    /// The dead man's switch: every change still in probation (the gateway died during its window) is rolled back.
    public func recover() async throws -> [SwitchRecord] {
        var rolled: [SwitchRecord] = []
        for record in try await store.switches.list(probation: true, limit: 1000) {
            rolled.append(
                try await rollback(record.id, reason: "the gateway restarted during probation", actor: .system)
            )
        }
        return rolled
    }

    /// Runs the due checks of every change in probation, every quarter second while one is, until cancelled. With
    /// none in probation it waits for one to begin: an idle gateway does not wake for it.
    public func run() async {
        while !Task.isCancelled {
            await tick()
            if active.isEmpty {
                await probation.wait()
            } else {
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// One pass: a window that ended rolls back; due checks run, and a failure rolls back.
    func tick(now: Date = Date()) async {
        for (id, entry) in active {
            do {
                if now >= entry.expires {
                    _ = try await rollback(id, reason: "the probation window ended without a commit", actor: .system)
                    continue
                }
                guard now >= entry.due else { continue }
                let interval = TimeInterval(entry.plan["interval_seconds"]?.intValue ?? 5)
                active[id]?.due = now.addingTimeInterval(interval)
                let (healthy, results) = await run(entry.checks)
                // A commit may have landed while the checks ran.
                guard active[id] != nil else { continue }
                try await store.switches.checked(id, healthy: healthy, results: results)
                if !healthy {
                    _ = try await rollback(id, reason: "a health check failed", actor: .system)
                }
            } catch {
                logger.error("safe switch check failed", metadata: ["switch": "\(id)", "error": "\(error)"])
            }
        }
    }

    // MARK: Checks and services

    func run(_ checks: [SwitchPlan.Check]) async -> (Bool, JSONValue) {
        var healthy = true
        var results: [JSONValue] = []
        for check in checks {
            let (ok, detail) = await probe(check)
            healthy = healthy && ok
            var result = check.json.objectValue ?? [:]
            result["ok"] = .bool(ok)
            result["detail"] = .string(detail)
            results.append(.object(result))
        }
        return (healthy, .array(results))
    }

    /// How long an http check may take, its whole answer included.
    static let probeLimit = Duration.seconds(5)

    func probe(_ check: SwitchPlan.Check) async -> (Bool, String) {
        switch check {
        case .http(let url, let expected):
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .GET
                // The whole answer within the limit, not only its head: a service that answers its head and then
                // stalls would otherwise hold the probation's checks, and the rollback that runs them again, for ever.
                let status = try await withTimeLimit(Self.probeLimit) { [request] in
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    return Int(response.status.code)
                }
                guard let status else { return (false, "no whole answer within \(Self.probeLimit)") }
                return (status == expected, "HTTP \(status)")
            } catch {
                return (false, "no answer: \(error)")
            }
        case .command(let argv):
            do {
                let result = try await HostTools.run(argv, outputLimit: 4096)
                return (result.exitCode == 0, result.timedOut ? "timed out" : "exit \(result.exitCode ?? -1)")
            } catch {
                return (false, "\(error)")
            }
        case .service(let unit):
            guard HostTools.systemd else { return (false, "systemd is not running on this machine") }
            let result = try? await HostTools.run(
                ["systemctl", "is-active", unit],
                timeout: .seconds(10),
                outputLimit: 1024
            )
            let state = result?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
            return (result?.exitCode == 0, state)
        }
    }

    func restart(_ services: [String]) async throws {
        for unit in services { try await perform(["systemctl", "restart", unit], timeout: .seconds(90)) }
    }

    /// Runs a host program a change needs (a restart, dpkg, apt); a failure names the command and how it ended.
    func perform(_ argv: [String], timeout: Duration) async throws {
        let result = try await HostTools.run(argv, timeout: timeout, outputLimit: 16 << 10)
        guard result.exitCode == 0 else {
            throw SwitchPlan.Invalid("\(argv.joined(separator: " ")): \(result.output.suffix(400))")
        }
    }

    // MARK: Files

    /// Saves each path's bytes and mode (or that it did not exist), then the manifest, each synced to disk.
    func snapshot(_ paths: [String], into folder: URL) throws {
        try FileManager.default.createDirectory(
            at: folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        var manifest: [Saved] = []
        for (index, path) in paths.enumerated() {
            var info = stat()
            if lstat(path, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFREG else {
                    throw SwitchPlan.Invalid("\(path) is not a regular file")
                }
                let blob = String(index)
                try Self.write(
                    try Data(contentsOf: URL(fileURLWithPath: path)),
                    to: folder.appendingPathComponent(blob).path,
                    mode: 0o600
                )
                manifest.append(Saved(path: path, existed: true, mode: UInt16(info.st_mode & 0o7777), blob: blob))
            } else {
                manifest.append(Saved(path: path, existed: false, mode: 0o644, blob: nil))
            }
        }
        try Self.write(
            try JSONEncoder().encode(manifest),
            to: folder.appendingPathComponent("manifest.json").path,
            mode: 0o600
        )
    }

    static func manifest(in folder: URL) throws -> [Saved] {
        try JSONDecoder().decode([Saved].self, from: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
    }

    static func restore(_ saved: Saved, from folder: URL) throws {
        if saved.existed, let blob = saved.blob {
            try write(
                try Data(contentsOf: folder.appendingPathComponent(blob)),
                to: saved.path,
                mode: mode_t(saved.mode)
            )
        } else if FileManager.default.fileExists(atPath: saved.path) {
            try FileManager.default.removeItem(atPath: saved.path)
        }
    }

    static func apply(_ change: SwitchPlan.FileChange) throws {
        guard let content = change.content else {
            if FileManager.default.fileExists(atPath: change.path) {
                try FileManager.default.removeItem(atPath: change.path)
            }
            return
        }
        var info = stat()
        let mode = lstat(change.path, &info) == 0 ? info.st_mode & 0o7777 : 0o644
        try write(Data(content.utf8), to: change.path, mode: mode)
    }

    /// Replaces `path` with `data` (``DurableFile``): a reader, and the disk after a crash, has the old bytes or the new
    /// ones, never half of them.
    static func write(_ data: Data, to path: String, mode: mode_t) throws {
        try DurableFile.replace(path, bytes: Array(data), mode: mode)
    }
}
