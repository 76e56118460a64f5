import ArgumentParser
import Foundation
import GRDB
import OspreyAgent
import OspreyCore
import OspreyProviders
import OspreyStore

/// `osprey-bench pool`: budget checks while the database's only reader is busy.
///
/// Each `Meter.reserve` reads the day's usage. If that read ever takes GRDB's blocking path, every caller parks a
/// cooperative thread waiting for the reader, and the read that holds the reader can never resume to give it back:
/// the process hangs. With more callers than cooperative threads this is a deterministic deadlock check (the test
/// suite runs it with a time-out), and it reports how long the checks took.
struct PoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Budget checks racing for one busy database reader: finishes only if none blocks a thread."
    )
    @Option(help: "Concurrent budget checks (default: four per core).")
    var callers = ProcessInfo.processInfo.activeProcessorCount * 4

    func run() async throws {
        try await report {
            let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
                "osprey-pool-\(getpid())"
            )
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = try Store.open(
                path: directory.appendingPathComponent("pool.db").path,
                ledgerKey: Array(repeating: 3, count: 32),
                durability: .normal,
                maximumReaders: 1
            )
            let meter = Meter(store: store) { _ in nil }
            let callers = self.callers
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The only reader is held for 300 ms by a read that must resume on the cooperative pool to release it.
                group.addTask {
                    _ = try await store.writer.read { db -> Int in
                        usleep(300_000)
                        return try Int.fetchOne(db, sql: "SELECT 1") ?? 0
                    }
                }
                try await Task.sleep(for: .milliseconds(50))
                for _ in 0..<callers {
                    group.addTask {
                        let reservation = try await meter.reserve(
                            agent: "bench",
                            limits: OspreyConfig.Agent(),
                            route: ModelRoute(provider: "bench", model: "bench"),
                            estimatedInput: 10,
                            maxOutput: 10,
                            run: Meter.RunUsage(),
                            session: nil
                        )
                        meter.release(reservation)
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            print(
                "\(callers) budget checks against 1 busy reader: done in \(elapsed.formatted(.units(allowed: [.milliseconds])))"
            )
        }
    }
}
