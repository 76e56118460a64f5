import COspreySystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The ports the local model server is started on, and whose the listening socket on one is (from `/proc`).
extension LocalModelServer {
    /// Whether nothing listens on `port` on loopback (a bind succeeds, as the server will bind it: a port whose
    /// last connections linger in TIME_WAIT is free to listen on).
    nonisolated static func portIsFree(_ port: Int) -> Bool {
        let descriptor = osprey_loopback_bind(Int32(port), nil)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        return true
    }

    /// A port the kernel picks as free right now.
    nonisolated static func freePort() -> Int? {
        // The socket code is in C: Swift's view of `sockaddr_in` depends on which module's headers it met first.
        var port: Int32 = 0
        let descriptor = osprey_loopback_bind(0, &port)
        guard descriptor >= 0 else { return nil }
        close(descriptor)
        return Int(port)
    }

    /// Whether the socket listening on TCP `port` is held by `pid` (or one of its children), from `/proc`.
    /// What the ownership check saw, for its error: the listening sockets on the port and the process's children.
    nonisolated static func listeners(onPort port: Int, around pid: pid_t) -> String {
        let hexPort = String(format: ":%04X", port)
        var sockets: [String] = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                if fields.count > 9, fields[1].hasSuffix(hexPort), fields[3] == "0A" {
                    sockets.append(String(fields[9]))
                }
            }
        }
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return "listening socket inodes: \(sockets), process \(pid), its children: [\(children)]"
    }

    nonisolated static func listener(onPort port: Int, belongsTo pid: pid_t) -> Bool {
        let hexPort = String(format: ":%04X", port)
        var inodes = Set<String>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[1].hasSuffix(hexPort), fields[3] == "0A" else { continue }
                inodes.insert("socket:[\(fields[9])]")
            }
        }
        guard !inodes.isEmpty else { return false }
        var candidates = [pid]
        if let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) {
            candidates += children.split(separator: " ").compactMap { pid_t($0) }
        }
        for candidate in candidates {
            let directory = "/proc/\(candidate)/fd"
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(entry)"),
                    inodes.contains(target)
                {
                    return true
                }
            }
        }
        return false
    }
}
