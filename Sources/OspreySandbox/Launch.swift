import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A command ready to spawn under its sandbox, and the per-command cgroups to remove once it has ended.
public struct Launch: Hashable, Sendable {
    public var argv: [String]
    public var controlGroups: [String]

    /// Kills whatever is left in the command's cgroups (a daemon that left its process group), then removes them.
    public func release() {
        for directory in controlGroups {
            // The kernel refuses while the last member is still exiting; it is a matter of milliseconds.
            for _ in 0..<100 {
                for pid in Self.members(of: directory) { kill(pid, SIGKILL) }
                if rmdir(directory) == 0 || errno == ENOENT { break }
                usleep(2000)
            }
        }
    }

    /// The processes in a cgroup v1 directory.
    static func members(of directory: String) -> [pid_t] {
        guard let text = try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }.filter { $0 > 1 }
    }
}

extension Sandbox.ControlGroups {
    /// The `osprey` groups under a cgroup v1 hierarchy with memory and pids controllers, created if needed;
    /// nil when the machine has no such hierarchy or it is not writable (cgroup v2 only, no privileges).
    static func probe(root: String) -> Self? {
        let memory = root + "/memory"
        let pids = root + "/pids"
        let manager = FileManager.default
        guard manager.fileExists(atPath: memory + "/memory.limit_in_bytes"),
            manager.fileExists(atPath: pids + "/cgroup.procs")
        else { return nil }
        for directory in [memory + "/osprey", pids + "/osprey"] {
            if mkdir(directory, 0o755) != 0 && errno != EEXIST { return nil }
        }
        guard manager.isWritableFile(atPath: pids + "/osprey/cgroup.procs") else { return nil }
        let groups = Self(memory: memory + "/osprey", pids: pids + "/osprey")
        groups.sweep()
        return groups
    }

    /// Removes command groups a crashed gateway left behind: empty, and older than any command being set up.
    ///
    /// A group is created, filled and emptied within one command; one that is empty a minute after its creation
    /// belongs to no running command (gateways sharing the hierarchy included).
    func sweep(olderThan age: TimeInterval = 60) {
        let cutoff = Date().timeIntervalSince1970 - age
        for parent in [memory, pids] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            where name.hasPrefix("cmd-") {
                let directory = parent + "/" + name
                var info = stat()
                guard stat(directory, &info) == 0, Double(info.st_ctim.tv_sec) < cutoff,
                    Launch.members(of: directory).isEmpty
                else { continue }
                rmdir(directory)
            }
        }
    }

    /// Creates one memory group and one pids group for a command, with the limits written; returns their paths.
    func create(limits: Sandbox.Limits) throws -> [String] {
        let name = "cmd-" + UUID().uuidString.lowercased()
        let groups = [
            (memory + "/" + name, "memory.limit_in_bytes", limits.memoryBytes),
            (pids + "/" + name, "pids.max", limits.processes),
        ]
        var created: [String] = []
        do {
            for (directory, file, value) in groups {
                guard mkdir(directory, 0o755) == 0 else {
                    throw SandboxError(reason: "mkdir \(directory): \(String(cString: strerror(errno)))")
                }
                created.append(directory)
                try Data("\(value)\n".utf8).write(to: URL(fileURLWithPath: directory + "/" + file))
            }
        } catch {
            Launch(argv: [], controlGroups: created).release()
            throw error
        }
        return created
    }
}
