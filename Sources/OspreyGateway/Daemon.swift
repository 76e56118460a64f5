public import Foundation
import Hummingbird
public import Logging
import NIOCore
import OspreyAgent
public import OspreyCore
import OspreyStore
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// Why the daemon refuses to start.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The process's exit code: 2 for a refused start, 75 (a temporary failure) for a resource restart.
    public var exitCode: Int32 = 2
}

/// `osprey gateway`: checks the address, takes the home's lock, boots the kernel, serves until SIGINT/SIGTERM.
public enum Daemon {
    /// True for 127.0.0.0/8, ::1 and `localhost`.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let parts = host.split(separator: ".")
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Runs the gateway in the foreground until a shutdown signal; records `gateway.started` and `gateway.stopped`.
    public static func run(home: Home, host: String?, port: Int?, allowRemote: Bool, logger: Logger) async throws {
        // A write to a pipe or socket whose reader is gone (an MCP server that exited before reading, a child's stdin)
        // must fail with EPIPE where it happens, not end the daemon: SIGPIPE's default action killed the gateway when
        // a configured MCP server exited at once. Children get the default back (`osprey_spawn_stdio`).
        signal(SIGPIPE, SIG_IGN)
        try home.bootstrap()
        let config = try OspreyConfig.load(from: home.configFile)
        let host = host ?? config.gateway.host
        let port = port ?? config.gateway.port
        if !isLoopback(host) && !(allowRemote && config.gateway.allowRemote) {
            throw DaemonError(
                description:
                    "refusing to listen on non-loopback host \(host): pass --allow-remote and set gateway.allow_remote = true in config.toml"
            )
        }
        let lock = try HomeLock.acquire(home.lockFile)
        defer { lock.release() }
        let kernel = try await Kernel.boot(home: home, config: config, port: port)
        let pid = Int(getpid())
        let notifier = SystemdNotifier()
        let app = buildApplication(kernel: kernel, host: host, port: port, logger: logger) { channel in
            let bound = channel.localAddress?.port ?? port
            lock.record(pid: pid, host: host, port: bound)
            // One line on stdout that scripts (and tests) wait for; systemd (Type=notify) hears it as READY=1.
            let line = "osprey gateway listening on http://\(host):\(bound) (home \(home.root.path))\n"
            _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
            notifier.send("READY=1\nSTATUS=listening on http://\(host):\(bound)")
            // What only the start-up ran need not stay resident in an idle gateway (``StartupPages``): released once
            // the first requests are answered, and once more when the services' own start-up is over.
            for delay in [StartupPages.serving, StartupPages.settling] {
                DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + delay.timeInterval) {
                    let released = StartupPages.release()
                    logger.debug(
                        "released start-up pages",
                        metadata: [
                            "mappings": "\(released.mappings)", "kilobytes": "\(released.kilobytes)",
                            "heap_trimmed": "\(released.heapTrimmed)",
                        ]
                    )
                }
            }
        }
        // On a full disk the gateway starts anyway (it serves reads and says why writes fail), and records its start
        // once there is room.
        try await appendEventually(
            EventDraft(
                type: .gatewayStarted,
                payload: [
                    "version": .string(Kernel.version), "host": .string(host), "port": .int(port), "pid": .int(pid),
                    "at": .string(WireFormat.timestamp(Date())),
                ]
            ),
            to: kernel.store.ledger,
            logger: logger
        )
        do {
            var configuration = ServiceGroupConfiguration(
                // The resource guard's restart drains the others (graceful shutdown) rather than cancel them.
                services: [.init(service: app)]
                    + kernel.services(logger: logger).map {
                        .init(
                            service: $0,
                            failureTerminationBehavior: $0 is ResourceGuard ? .gracefullyShutdownGroup : .cancelGroup
                        )
                    }
                    + (notifier.socket == nil ? [] : [.init(service: NotifyService(notifier: notifier))]),
                // SIGHUP too (a closed terminal, `kill -HUP`): its default action ended the daemon on the spot, its
                // stop unrecorded and its MCP servers left running.
                gracefulShutdownSignals: [.sigterm, .sigint, .sighup],
                logger: logger
            )
            // A service that does not finish its graceful shutdown in time is cancelled; one that ignores even
            // that cannot hold the process for ever.
            configuration.maximumGracefulShutdownDuration = .seconds(15)
            configuration.maximumCancellationDuration = .seconds(5)
            try await ServiceGroup(configuration: configuration).run()
        } catch let restart as ResourceRestart {
            // Drained by the service group: recorded, then the process ends for its supervisor to restart it.
            await kernel.runtime.localModel?.stop()
            await keepOwed(kernel, logger: logger)
            try await kernel.store.ledger.append(
                EventDraft(
                    type: .gatewayStopped,
                    payload: [
                        "reason": "resource_limit", "restart": true,
                        "error": .string(restart.description),
                    ]
                )
            )
            throw DaemonError(description: restart.description, exitCode: 75)
        } catch {
            await kernel.runtime.localModel?.stop()
            await keepOwed(kernel, logger: logger)
            do {
                try await kernel.store.ledger.append(
                    EventDraft(
                        type: .gatewayStopped,
                        payload: ["reason": .string("error"), "error": .string("\(error)")]
                    )
                )
            } catch let recording {
                logger.error("the gateway's stop could not be recorded", metadata: ["error": "\(recording)"])
            }
            throw error
        }
        await keepOwed(kernel, logger: logger)
        do {
            try await kernel.store.ledger.append(EventDraft(type: .gatewayStopped, payload: ["reason": "signal"]))
        } catch let error as StoreError where error.isUnavailable {
            // The stop asked for is done; that it could not be recorded (a full disk) is no reason to exit as failed.
            logger.error("the gateway's stop could not be recorded", metadata: ["error": "\(error)"])
        }
    }

    /// Records the model calls a full disk left owed, or keeps them over the stop for the next start to owe.
    static func keepOwed(_ kernel: Kernel, logger: Logger) async {
        do {
            let kept = try await kernel.runtime.meter.keepOwed()
            if kept > 0 {
                logger.warning(
                    "model calls owed are kept for the next start (the disk is full)",
                    metadata: ["calls": "\(kept)"]
                )
            }
        } catch {
            logger.error("model calls owed could not be kept over the stop", metadata: ["error": "\(error)"])
        }
    }

    /// Appends `draft`; when the store cannot record it now (a full disk), says so and tries again every 5 s in the
    /// background until it can, while the gateway runs. Other failures are thrown.
    static func appendEventually(_ draft: EventDraft, to ledger: Ledger, logger: Logger) async throws {
        do {
            try await ledger.append(draft)
            return
        } catch let error as StoreError where error.isUnavailable {
            logger.error(
                "event not recorded; tried again every 5 s",
                metadata: ["event": "\(draft.type)", "error": "\(error)"]
            )
        }
        Task {
            while true {
                do { try await Task.sleep(for: .seconds(5)) } catch { return }
                do {
                    try await ledger.append(draft)
                    logger.info("event recorded late", metadata: ["event": "\(draft.type)"])
                    return
                } catch let error as StoreError where error.isUnavailable {
                    continue
                } catch {
                    logger.error("event not recorded", metadata: ["event": "\(draft.type)", "error": "\(error)"])
                    return
                }
            }
        }
    }
}

/// An exclusive `flock` on `gateway.lock`: one gateway per home. The file also says who holds it.
public final class HomeLock: Sendable {
    let descriptor: Int32
    let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    public static func acquire(_ url: URL) throws -> HomeLock {
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DaemonError(description: "cannot open \(url.path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            let holder =
                (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            throw DaemonError(
                description:
                    "another gateway is already running on this home (\(holder.isEmpty ? "lock held" : holder))"
            )
        }
        return HomeLock(descriptor: descriptor, path: url.path)
    }

    /// Writes `pid=N host=H port=P` into the lock file.
    func record(pid: Int, host: String, port: Int) {
        let text = "pid=\(pid) host=\(host) port=\(port)\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    public func release() {
        _ = ftruncate(descriptor, 0)
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// The `pid=… port=…` record of the gateway holding a home, or nil when none does.
    public static func holder(of url: URL) -> [String: String]? {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            _ = flock(descriptor, LOCK_UN)
            return nil
        }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for part in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        return fields
    }
}
