import Foundation
import OspreyTesting
import Testing

/// The gateway's task path under load, as a separate process so its cooperative pool is as small as the machine's.
///
/// On two cores Swift's cooperative pool has two threads; a database read that blocks one of them (GRDB's blocking
/// `read` chosen over the async one) parked both inside `Meter.reserve` and stopped everything. This runs 64 tasks at
/// once, three times, through the real supervisor, agent, meter and ledger; a deadlock shows as a time-out.
struct LoadTests {
    @Test func sixtyFourConcurrentTasksAlwaysFinish() async throws {
        let osprey = try OspreyExecutable.locate()
        for run in 1...3 {
            let output = try await osprey.run(
                ["bench", "tasks", "--sessions", "10", "--tasks", "400", "--concurrency", "64"],
                timeout: .seconds(150)
            )
            #expect(output.status == 0, "run \(run): \(output.stderr)")
            #expect(output.stdout.components(separatedBy: "400 completed").count == 3, "run \(run): \(output.stdout)")
        }
    }

    /// More budget checks than cooperative threads, racing for the one database reader while it is busy: a single
    /// blocking read among them deadlocks the process (seen here with the old `Meter.reserve`), so a time-out fails.
    @Test func budgetChecksNeverBlockACooperativeThreadOnTheDatabasePool() async throws {
        let osprey = try OspreyExecutable.locate()
        let output = try await osprey.run(["bench", "pool", "--callers", "32"], timeout: .seconds(60))
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("32 budget checks against 1 busy reader: done"))
    }
}
