public import Foundation
public import OspreySandbox

/// Runs one command through a sandbox and reads, from inside, which layers really apply: the proof behind
/// `osprey doctor` and the sandbox tests.
public enum SandboxProbe {
    /// One layer, whether it is in force inside the command, and what was seen.
    public struct Layer: Hashable, Sendable {
        public var name: String
        public var active: Bool
        public var detail: String
    }

    static let script = """
        cat /proc/self/status; echo @@; cat /proc/self/limits; echo @@; readlink /proc/self/ns/net /proc/self/ns/mnt /proc/self/ns/pid
        echo @@; cat /proc/self/cgroup; echo @@; if ls /var >/dev/null 2>&1; then echo open; else echo confined; fi
        i=0; while [ ! -e .osprey-probe-seen ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
        """

    /// Runs the probe in a scratch workspace; a sandbox that refuses to run reports every layer inactive.
    public static func run(_ sandbox: Sandbox) async -> [Layer] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-probe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let launch = try sandbox.launch(["/bin/sh", "-c", script], workspace: scratch.path).get()
            defer { launch.release() }
            async let ran = CommandRunner.run(
                launch.argv,
                environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"],
                directory: scratch.path,
                timeout: .seconds(20),
                outputLimit: 1 << 20
            )
            // Inside, the cgroup namespace shows "/": the membership is checked from outside while the probe runs.
            // The probe waits at its end (up to 15 s) until the watch has looked and says so with a file in its
            // workspace, so a machine too loaded to start bubblewrap and the jail quickly cannot make it end unseen.
            var joined = false
            for _ in 0..<1500 where !joined {
                try await Task.sleep(for: .milliseconds(10))
                joined = launch.controlGroups.contains { group in
                    let members = (try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8)) ?? ""
                    return !members.isEmpty
                }
            }
            FileManager.default.createFile(
                atPath: scratch.appendingPathComponent(".osprey-probe-seen").path,
                contents: nil
            )
            let result = try await ran
            return layers(from: result.output, sandbox: sandbox, joinedControlGroups: joined)
        } catch {
            return [Layer(name: "sandbox", active: false, detail: ": \(error)")]
        }
    }

    /// Interprets the probe's output against what the gateway itself has.
    static func layers(from output: String, sandbox: Sandbox, joinedControlGroups: Bool) -> [Layer] {
        let parts = output.components(separatedBy: "@@\n")
        guard parts.count == 5 else {
            return [Layer(name: "sandbox", active: false, detail: ": the probe failed: \(output.prefix(300))")]
        }
        func field(_ name: String) -> String? {
            parts[0].split(separator: "\n").first { $0.hasPrefix(name + ":") }.map {
                $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
            }
        }
        let namespaces = parts[2].split(separator: "\n").map(String.init)
        let own = ["/proc/self/ns/net", "/proc/self/ns/mnt", "/proc/self/ns/pid"].map {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: $0)) ?? ""
        }
        let openFiles = parts[1].split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) ?? ""
        var layers = [
            Layer(
                name: "rlimits",
                active: openFiles.contains(" \(sandbox.limits.openFiles) "),
                detail: " (open files \(sandbox.limits.openFiles), cpu \(sandbox.limits.cpuSeconds) s)"
            ),
            Layer(name: "no_new_privs", active: field("NoNewPrivs") == "1", detail: ""),
            Layer(name: "seccomp", active: field("Seccomp") == "2", detail: " (filter mode)"),
            Layer(
                name: "landlock",
                active: parts[4].contains("confined"),
                detail: " (only the system, the workspace and granted roots are visible)"
            ),
        ]
        if case .bubblewrap = sandbox.rung {
            layers.append(
                Layer(
                    name: "namespaces",
                    active: namespaces.count == 3 && namespaces[0] != own[0] && namespaces[1] != own[1],
                    detail: " (own network and mount namespaces)"
                )
            )
        }
        if sandbox.rung != .bare {
            // Every rung, the full one too, hides the gateway's processes and drops every capability.
            layers.append(
                Layer(
                    name: "pid_namespace",
                    active: namespaces.count == 3 && namespaces[2] != own[2],
                    detail: " (the gateway's processes are invisible)"
                )
            )
            layers.append(
                Layer(
                    name: "capabilities",
                    active: field("CapEff").map { $0.allSatisfy { $0 == "0" } } ?? false,
                    detail: " (CapEff \(field("CapEff") ?? "?"))"
                )
            )
        }
        if sandbox.controlGroups != nil {
            layers.append(
                Layer(
                    name: "cgroup v1",
                    active: joinedControlGroups,
                    detail: " (memory \(sandbox.limits.memoryBytes >> 20) MiB, \(sandbox.limits.processes) processes)"
                )
            )
        }
        return layers
    }
}
