import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: datagrams to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace)
/// when systemd started the gateway as `Type=notify`; nothing at all otherwise.
struct SystemdNotifier: Sendable {
    let socket: String?
    /// Half of `$WATCHDOG_USEC`, when the watchdog is for this process (`$WATCHDOG_PID` absent or ours).
    let watchdogInterval: Duration?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socket = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if forUs, let micros = environment["WATCHDOG_USEC"].flatMap(Int.init), micros > 0 {
            watchdogInterval = .microseconds(micros / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `state` (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=...`); false when it could not be sent.
    @discardableResult
    func send(_ state: String) -> Bool {
        guard let socket else { return false }
        let descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socket.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // the abstract namespace
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let sent = state.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, text, strlen(text), 0, $0, length)
                }
            }
        }
        return sent >= 0
    }
}

/// Tells systemd the gateway is alive (`WATCHDOG=1` at half the watchdog interval) and, at graceful shutdown,
/// that it is stopping (`STOPPING=1`).
struct NotifyService: Service {
    let notifier: SystemdNotifier

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            if let interval = notifier.watchdogInterval {
                group.addTask {
                    while !Task.isCancelled {
                        notifier.send("WATCHDOG=1")
                        do { try await Task.sleep(for: interval) } catch { return }
                    }
                }
            }
            await untilGracefulShutdown()
            notifier.send("STOPPING=1")
            group.cancelAll()
        }
    }
}
