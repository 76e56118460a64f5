import Foundation
import OspreyCore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct ToolTests {
    @Test(arguments: [
        "../outside/secret.txt", "/etc/passwd", "link-out/secret.txt", "escape.txt", "/proc/self/root/etc/passwd",
        "sub/../../outside/secret.txt", "../ws/../outside/secret.txt",
    ])
    func pathsThatLeadOutOfTheWorkspaceAreRefused(path: String) async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        for (tool, arguments) in [
            ("read_file", #"{"path":"\#(path)"}"#), ("write_file", #"{"path":"\#(path)","content":"pwned"}"#),
            ("edit_file", #"{"path":"\#(path)","old_string":"C","new_string":"D"}"#),
            ("list_dir", #"{"path":"\#(path)"}"#),
        ] {
            let result = try await jail.call(tool, arguments)
            #expect(result.isError, "\(tool) \(path)")
            #expect(!result.output.contains(JailFixture.canary))
        }
        let canary = try String(
            contentsOf: jail.directory.url.appendingPathComponent("outside/secret.txt"),
            encoding: .utf8
        )
        #expect(canary == JailFixture.canary)
    }

    @Test func aHardLinkToAFileOutsideTheWorkspaceIsNeitherReadNorWritten() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        // Given a file outside the workspace, hard-linked inside it
        let outside = jail.directory.url.appendingPathComponent("outside/secret.txt")
        try FileManager.default.linkItem(at: outside, to: jail.workspace.root.appendingPathComponent("linked.txt"))
        // When the file tools read, write and edit it
        for (tool, arguments) in [
            ("read_file", #"{"path":"linked.txt"}"#), ("write_file", #"{"path":"linked.txt","content":"pwned"}"#),
            ("edit_file", #"{"path":"linked.txt","old_string":"CANARY","new_string":"pwned"}"#),
            ("grep", #"{"pattern":"CANARY"}"#),
        ] {
            let result = try await jail.call(tool, arguments)
            // Then nothing of it is shown and nothing written
            #expect(tool == "grep" || result.isError, "\(tool): \(result.output)")
            #expect(!result.output.contains(JailFixture.canary), "\(tool)")
            if tool == "read_file" { #expect(result.output.contains("hard link"), "\(result.output)") }
        }
        #expect(try String(contentsOf: outside, encoding: .utf8) == JailFixture.canary)
    }

    /// Whether a watchdog had to step in.
    final class Rescue: Sendable {
        let happened = Mutex(false)
    }

    /// Runs `body`; if it has not finished after `patience`, opens both ends of the FIFO so that a call blocked on
    /// it can return (and the test fail rather than hang), and records in `rescue` that it had to.
    static func unblocking(
        _ fifo: String,
        after patience: Duration,
        rescue: Rescue = Rescue(),
        _ body: @escaping @Sendable () async throws -> ToolResult
    ) async throws -> ToolResult {
        try await withThrowingTaskGroup(of: ToolResult?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: patience)
                rescue.happened.withLock { $0 = true }
                let descriptor = open(fifo, O_RDWR | O_NONBLOCK)
                try await Task.sleep(for: .milliseconds(200))
                close(descriptor)
                return nil
            }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw CancellationError()
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aFIFOInTheWorkspaceIsRefusedAtOnceNotWaitedOn() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let fifo = jail.workspace.root.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o644) == 0)
        for (tool, arguments) in [
            ("read_file", #"{"path":"pipe"}"#), ("write_file", #"{"path":"pipe","content":"x"}"#),
            ("edit_file", #"{"path":"pipe","old_string":"a","new_string":"b"}"#), ("grep", #"{"pattern":"x"}"#),
        ] {
            // A call that blocks on the FIFO never returns by itself: only the watchdog (after a patience no loaded
            // machine needs) would free it, so its stepping in is the failure, not a time measured here.
            let rescue = Rescue()
            let result = try await Self.unblocking(fifo, after: .seconds(20), rescue: rescue) {
                try await jail.call(tool, arguments)
            }
            #expect(!rescue.happened.withLock { $0 }, "\(tool) waited on the FIFO")
            #expect(tool == "grep" || result.isError, "\(tool): \(result.output)")
            if tool == "read_file" { #expect(result.output.contains("not a regular file"), "\(result.output)") }
        }
    }

    @Test func aDirectorySwappedForASymlinkBetweenTwoCallsIsRefused() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let sub = jail.workspace.root.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try "inside".write(to: sub.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        #expect(try await jail.call("read_file", #"{"path":"sub/secret.txt"}"#).output == "inside")
        // The directory is replaced by a symlink to the outside after the first read.
        try FileManager.default.removeItem(at: sub)
        try FileManager.default.createSymbolicLink(
            atPath: sub.path,
            withDestinationPath: jail.directory.url.appendingPathComponent("outside").path
        )
        let result = try await jail.call("read_file", #"{"path":"sub/secret.txt"}"#)
        #expect(result.isError)
        #expect(result.output.contains("outside the workspace"))
    }

    @Test func fileToolsReadWriteEditListGlobAndGrepInsideTheWorkspace() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        #expect(
            try await jail.call("write_file", #"{"path":"src/deep/a.swift","content":"let x = 1\nlet y = 2\n"}"#)
                .isError == false
        )
        #expect(
            try await jail.call("read_file", #"{"path":"src/deep/a.swift","offset":2,"limit":1}"#).output == "let y = 2"
        )
        #expect(
            try await jail.call("edit_file", #"{"path":"src/deep/a.swift","old_string":"x = 1","new_string":"x = 3"}"#)
                .isError == false
        )
        #expect(try await jail.call("read_file", #"{"path":"./src/deep/a.swift"}"#).output == "let x = 3\nlet y = 2\n")
        let ambiguous = try await jail.call(
            "edit_file",
            #"{"path":"src/deep/a.swift","old_string":"let","new_string":"var"}"#
        )
        #expect(ambiguous.isError && ambiguous.output.contains("occurs 2 times"))
        let missing = try await jail.call(
            "edit_file",
            #"{"path":"src/deep/a.swift","old_string":"nope","new_string":"x"}"#
        )
        #expect(missing.isError && missing.output.contains("not found"))
        let listing = try await jail.call("list_dir", "{}")
        #expect(
            listing.output.contains("notes.txt (12 bytes)") && listing.output.contains("src/")
                && listing.output.contains("escape.txt -> (symlink)")
        )
        #expect(try await jail.call("glob", #"{"pattern":"**/*.swift"}"#).output == "src/deep/a.swift")
        #expect(try await jail.call("glob", #"{"pattern":"*.txt"}"#).output == "notes.txt")
        #expect(try await jail.call("grep", #"{"pattern":"y = \\d"}"#).output == "src/deep/a.swift:2: let y = 2")
        // grep never follows the symlinks out.
        #expect(try await jail.call("grep", #"{"pattern":"CANARY"}"#).output == "No matches.")
    }

    @Test func modelMistakesBecomeErrorResultsNotCrashes() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let unknown = try await jail.call("delete_everything", "{}")
        #expect(unknown.isError && unknown.output.contains("No tool named 'delete_everything'"))
        let missing = try await jail.call("read_file", "{}")
        #expect(missing.isError && missing.output.contains("missing required field 'path'"))
        let duplicate = try await jail.call("read_file", #"{"path":"notes.txt","path":"../outside/secret.txt"}"#)
        #expect(duplicate.isError && duplicate.output.contains("duplicate key 'path'"))
        let notJSON = try await jail.call("read_file", "{path: notes.txt")
        #expect(notJSON.isError && notJSON.output.contains("not valid JSON"))
        let wrongType = try await jail.call("read_file", #"{"path":42}"#)
        #expect(wrongType.isError && wrongType.output.contains("path"))
    }

    @Test func aRestrictedToolboxDeniesWhatItWasNotGranted() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let toolbox = Toolbox.builtIn.restricted(to: ["read_file", "no_such_tool"])
        #expect(toolbox.names == ["read_file"])
        let denied = try await toolbox.call(
            ToolCall(id: ToolCall.ID("c"), name: "run_command", arguments: #"{"command":"id"}"#),
            context: jail.context
        )
        #expect(denied.isError)
    }

    @Test func commandsRunInTheWorkspaceWithAScrubbedEnvironment() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        setenv("OSPREY_TEST_SECRET", "hunter2", 1)
        let result = try await jail.call("run_command", #"{"command":"pwd; env; cat notes.txt; exit 3"}"#)
        #expect(!result.isError)
        #expect(result.output.hasPrefix("[exit code 3]\n" + jail.workspace.root.path))
        #expect(result.output.contains("PATH=/usr/local/bin:/usr/bin:/bin"))
        #expect(!result.output.contains("hunter2"))
        #expect(result.output.contains("hello\nworld"))
    }

    @Test(arguments: [
        "touch marker && sudo id", "touch marker; rm -rf /", "touch marker | sh -c 'mkfs /dev/sda'",
        "touch marker; python3 -c 'print(1)'",
    ])
    func aLineWithOneRefusedCommandRunsNothing(line: String) async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await jail.call("run_command", JSONValue.object(["command": .string(line)]).canonicalJSON)
        #expect(result.isError)
        #expect(result.output.contains("Refused"))
        #expect(!FileManager.default.fileExists(atPath: jail.workspace.root.appendingPathComponent("marker").path))
    }

    @Test func aTimeoutKillsTheWholeProcessGroup() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        // A background child that would outlive its shell, and a foreground sleep.
        let result = try await jail.call(
            "run_command",
            #"{"command":"sleep 300 & echo $! > child.pid; sleep 300","timeout_seconds":1}"#
        )
        #expect(result.output.hasPrefix("[timed out after 1.0 seconds; process group killed]"))
        let pid = try #require(
            Int32(
                try String(contentsOf: jail.workspace.root.appendingPathComponent("child.pid"), encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            )
        )
        try await Task.sleep(for: .milliseconds(100))
        #expect(!Self.isAlive(pid), "the background child survived")
    }

    /// A process that leaves the command's group (setsid) and keeps its output open cannot be killed on the bare
    /// rung, but it no longer holds the call: before, the call waited for its output to end, past any timeout.
    @Test(.timeLimit(.minutes(1))) func aDaemonThatKeepsTheOutputOpenDoesNotHoldTheCall() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        defer { for pid in HostProcesses.containing("86398.5") { kill(pid, SIGKILL) } }
        // (the command ends once the daemon has left its group)
        let command = "setsid sh -c 'touch left; sleep 86398.5' & until [ -e left ]; do sleep 0.01; done; echo started"
        let arguments: JSONValue = ["command": .string(command), "timeout_seconds": 30]
        let result = try await jail.call("run_command", arguments.canonicalJSON)
        #expect(result.output.hasPrefix("[exit code 0; a process that left the command's group kept its output open"))
        #expect(result.output.contains("started"))
    }

    @Test func floodingOutputIsCappedAndKilled() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await jail.call("run_command", #"{"command":"yes osprey"}"#)
        #expect(result.output.hasPrefix("[output exceeded 4096 bytes; process group killed]"))
        #expect(result.output.utf8.count < 4096 + 200)
    }

    @Test func cancellingTheCallerKillsTheCommand() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        // A timeout far beyond the wait below: on a loaded machine the fixture's 5 s could end the command first,
        // and the call would then return "timed out" instead of being cancelled.
        let task = Task {
            try await jail.call("run_command", #"{"command":"echo $$ > shell.pid; sleep 300"}"#) {
                $0.commandTimeout = .seconds(300)
            }
        }
        // Wait until the command is really running (a loaded CI machine may take seconds to start it).
        let pidFile = jail.workspace.root.appendingPathComponent("shell.pid")
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: pidFile.path) {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        let pid = try #require(
            Int32(
                try String(contentsOf: jail.workspace.root.appendingPathComponent("shell.pid"), encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            )
        )
        #expect(!Self.isAlive(pid))
    }

    /// Running or sleeping, not gone and not a zombie waiting for a reaper.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        return !status.contains("State:\tZ")
    }
}
