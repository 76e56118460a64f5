import Foundation
import OspreyTesting
import Testing

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
}
