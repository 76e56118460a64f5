import Foundation
import Testing

@testable import OspreyTesting

#if canImport(Glibc)
import Glibc
#endif

/// The test helpers that run child processes (`osprey` commands, Python peers) end them when their caller stops
/// waiting, so a failing test fails instead of holding the suite.
struct ChildProcessTests {
    /// A command waiting for what will not come (here a long sleep; in `CLITests`, an approval the failed test was
    /// to give) is killed when its caller is cancelled: the caller ends at once, and no process is left behind.
    @Test(.timeLimit(.minutes(1))) func aCancelledWaitForACommandKillsItInsteadOfHoldingTheCaller() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-child")
        defer { directory.remove() }
        let pidFile = directory.url.appendingPathComponent("pid").path
        let waiting = Task {
            try await runPython([
                "-c", "import os, time; open('\(pidFile)', 'w').write(str(os.getpid())); time.sleep(600)",
            ])
        }
        func pid() -> Int32? { (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0) } }
        try await TestRuns.waitUntil(timeout: .seconds(30)) { pid() != nil }
        let child = try #require(pid())
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(kill(child, 0) == -1 && errno == ESRCH, "the command is still there")
    }

    /// A command that outlives its time limit is killed and reported.
    @Test(.timeLimit(.minutes(1))) func aCommandPastItsTimeLimitIsKilledAndReported() async throws {
        let started = ContinuousClock.now
        await #expect(throws: ProcessFailure.self) {
            try await runPython(["-c", "import time; time.sleep(600)"], timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    /// A command whose background job holds its output open is ended with the job when it runs out of time: killing
    /// only the command left the job holding the pipes, and the wait for them never ended.
    @Test(.timeLimit(.minutes(1))) func aCommandPastItsTimeLimitIsEndedWithWhatItLeftRunning() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-child")
        defer { directory.remove() }
        let jobFile = directory.url.appendingPathComponent("job").path
        await #expect(throws: ProcessFailure.self) {
            try await runProgram(
                ["sh", "-c", "sleep 600 & echo $! > \(jobFile); exec sleep 600"],
                timeout: .seconds(1)
            )
        }
        let job = try #require(Self.pid(in: jobFile))
        #expect(Self.isGone(job), "the background job is still there")
    }

    /// A gateway that crashed while something it forked holds its descriptors (the Swift backtracer did, and waited
    /// forever) is seen to have ended: `stop()` returns its signal instead of waiting for Foundation to notice, and
    /// what it left is killed.
    @Test(.timeLimit(.minutes(1))) func aCrashedGatewayWhoseDescendantHoldsOnIsStillStopped() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-child")
        defer { directory.remove() }
        let jobFile = directory.url.appendingPathComponent("job").path
        let crashed = try Self.started("ulimit -c 0; sleep 600 & echo $! > \(jobFile); kill -s SEGV $$")
        try await TestRuns.waitUntil(timeout: .seconds(30)) { crashed.exitedButUnreaped != nil }
        let gateway = GatewayProcess(process: crashed, port: 0)
        #expect(await gateway.stop() == SIGSEGV)
        let job = try #require(Self.pid(in: jobFile))
        #expect(Self.isGone(job), "the background job is still there")
    }

    /// `kill()` ends the gateway and what it forked, and returns once they are gone.
    @Test(.timeLimit(.minutes(1))) func aKilledGatewayTakesItsDescendantsWithIt() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-child")
        defer { directory.remove() }
        let jobFile = directory.url.appendingPathComponent("job").path
        let running = try Self.started("sleep 600 & echo $! > \(jobFile); exec sleep 600")
        try await TestRuns.waitUntil(timeout: .seconds(30)) { Self.pid(in: jobFile) != nil }
        GatewayProcess(process: running, port: 0).kill()
        #expect(!running.isRunning)
        #expect(Self.isGone(try #require(Self.pid(in: jobFile))), "the background job is still there")
    }

    private static func started(_ script: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    private static func pid(in file: String) -> Int32? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Gone, or a zombie left for a parent that does not reap (PID 1 in some containers).
    private static func isGone(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return errno == ESRCH }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }
}
