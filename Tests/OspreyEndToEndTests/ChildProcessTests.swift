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
        let job = try BackgroundJob()
        defer { job.remove() }
        await #expect(throws: ProcessFailure.self) {
            try await runProgram(["sh", "-c", job.started(then: "exec sleep 600")], timeout: .seconds(1))
        }
        #expect(try job.isGone(), "the background job is still there")
    }

    /// A gateway that crashed while something it forked holds its descriptors (the Swift backtracer did, and waited
    /// forever) is seen to have ended: `stop()` returns its signal instead of waiting for Foundation to notice, and
    /// what it left is killed.
    @Test(.timeLimit(.minutes(1))) func aCrashedGatewayWhoseDescendantHoldsOnIsStillStopped() async throws {
        let job = try BackgroundJob()
        defer { job.remove() }
        let crashed = try job.shell("ulimit -c 0; " + job.started(then: "kill -s SEGV $$"))
        try await TestRuns.waitUntil(timeout: .seconds(30)) { crashed.exitedButUnreaped != nil }
        #expect(await GatewayProcess(process: crashed, port: 0).stop() == SIGSEGV)
        #expect(try job.isGone(), "the background job is still there")
    }

    /// `kill()` ends the gateway and what it forked, and returns once they are gone.
    @Test(.timeLimit(.minutes(1))) func aKilledGatewayTakesItsDescendantsWithIt() async throws {
        let job = try BackgroundJob()
        defer { job.remove() }
        let running = try job.shell(job.started(then: "exec sleep 600"))
        try await TestRuns.waitUntil(timeout: .seconds(30)) { job.pid != nil }
        GatewayProcess(process: running, port: 0).kill()
        #expect(!running.isRunning)
        #expect(try job.isGone(), "the background job is still there")
    }
}

/// A shell's background job (`sleep 600 &`): a descendant that keeps what its shell was given after the shell is gone.
private struct BackgroundJob {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory(prefix: "osprey-child") }
    func remove() { directory.remove() }

    var file: String { directory.url.appendingPathComponent("job").path }

    /// A shell script that starts the job, writes its pid, then runs `then`.
    func started(then: String) -> String { "sleep 600 & echo $! > \(file); \(then)" }

    /// `/bin/sh -c script`, its output nowhere.
    func shell(_ script: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    var pid: Int32? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Whether the job is gone, or a zombie left for a parent that does not reap (PID 1 in some containers).
    func isGone() throws -> Bool {
        let pid = try #require(pid)
        guard kill(pid, 0) == 0 else { return errno == ESRCH }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }
}
