import ArgumentParser
import Foundation
import Logging
import OspreyCore
import OspreyScheduler
import OspreyStore
import OspreyTesting

/// `osprey-bench cluster`: what one, two and three gateways get out of one PostgreSQL database, beside one gateway on
/// its SQLite home, in the same run.
///
/// Each node is a gateway's `Store` and `Supervisor` (its own connections and writer, its ledger feed) in this
/// process; the database does all the coordination, so nodes in one process meet the same locks as nodes on three
/// machines (minus the network). Tasks go the gateway's real way: submitted through the nodes in turn, picked up by
/// every node's supervisor from the committed `task.created` (its own or heard through the feed), claimed by
/// exactly one, started, run and finished, each step with its ledger event; the scripted run does no work, so the
/// figure is the coordination's ceiling.
struct ClusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Tasks/s and ledger appends/s with 1, 2 and 3 gateways on PostgreSQL, beside SQLite on one node."
    )
    @Option(help: "Tasks per run.") var tasks = 2000
    @Option(help: "Ledger appends per run.") var appends = 4000
    @Option(help: "Concurrent tasks (and appenders) per node.") var workers = 8
    @Option(help: "A PostgreSQL URL to use (default: a private server started for the run).") var url: String?

    func run() async throws {
        try await report {
            let server = url == nil ? try await PostgresServer() : nil
            do {
                try await measure(server: server)
            } catch {
                await server?.stop()
                throw error
            }
            await server?.stop()
        }
    }

    private func measure(server: PostgresServer?) async throws {
        print("cluster benchmark: \(tasks) tasks, \(appends) appends, \(workers) workers per node")
        let directory = try TemporaryDirectory(prefix: "osprey-bench-cluster")
        defer { directory.remove() }
        let sqlite = try Store.open(path: directory.path + "/osprey.db", ledgerKey: Self.key, durability: .full)
        let sqliteTasks = try await Self.tasks([sqlite], count: tasks, workers: workers)
        let sqliteAppends = try await Self.appends([sqlite], count: appends, writers: workers)
        print(Self.row("SQLite, 1 node", tasks: sqliteTasks, appends: sqliteAppends, base: nil))
        for nodes in 1...3 {
            let address: String
            if let server {
                address = try await server.createDatabase("bench\(nodes)")
            } else {
                address = url ?? ""
            }
            let target = try PostgresTarget(url: address)
            var stores: [Store] = []
            for node in 0..<nodes {
                stores.append(try await Store.open(postgres: target, node: "bench-\(node)", ledgerKey: Self.key))
            }
            defer { for store in stores { store.close() } }
            let taskRate = try await Self.tasks(stores, count: tasks, workers: workers)
            let appendRate = try await Self.appends(stores, count: appends, writers: workers)
            guard try await stores[0].ledger.verify().ok else { throw BenchError("the cluster ledger broke") }
            print(
                Self.row(
                    "PostgreSQL, \(nodes) node\(nodes == 1 ? "" : "s")",
                    tasks: taskRate,
                    appends: appendRate,
                    base: (sqliteTasks, sqliteAppends)
                )
            )
            if server == nil { break }  // a given database is not emptied between runs
        }
    }

    static let key = Array(repeating: UInt8(3), count: 32)

    static func row(_ name: String, tasks: Double, appends: Double, base: (Double, Double)?) -> String {
        let ratio = base.map { String(format: "  (%.2fx, %.2fx SQLite)", tasks / $0.0, appends / $0.1) } ?? ""
        return String(format: "%-22@ %8.0f tasks/s %9.0f appends/s", name as NSString, tasks, appends) + ratio
    }

    /// Runs `body` for workers 0..<count at once and returns how long they took together.
    static func concurrently(
        _ count: Int,
        _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws
        -> Duration
    {
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<count { group.addTask { try await body(worker) } }
            try await group.waitForAll()
        }
        return clock.now - start
    }

    /// `count` one-round tasks through every node's supervisor (and, on PostgreSQL, its ledger feed): from the
    /// first submission until the last is completed. The cap is the cluster's on PostgreSQL: `workers` per node.
    static func tasks(_ stores: [Store], count: Int, workers: Int) async throws -> Double {
        let limits = Supervisor.Limits(maxConcurrent: workers * stores.count, perProvider: workers * stores.count)
        let supervisors = stores.map { Supervisor(store: $0, limits: limits) { _, _ in TaskOutcome(result: "ok") } }
        let before = try await stores[0].tasks.counts()[.completed, default: 0]
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for (store, supervisor) in zip(stores, supervisors) {
                group.addTask { await supervisor.run() }
                group.addTask { await store.feed(logger: Logger(label: "bench")) }
            }
            defer { group.cancelAll() }
            let clock = ContinuousClock()
            let start = clock.now
            _ = try await concurrently(stores.count * workers) { slot in
                let store = stores[slot % stores.count]
                for n in stride(from: slot, to: count, by: stores.count * workers) {
                    _ = try await store.tasks.submit(Tasks.Draft(title: "t\(n)", instructions: "-"), actor: .system)
                }
            }
            while try await stores[0].tasks.counts()[.completed, default: 0] < before + count {
                try await Task.sleep(for: .milliseconds(5))
            }
            let elapsed = clock.now - start
            let started = try await stores[0].ledger.events(
                after: 0,
                filter: EventFilter(type: "task.started"),
                limit: 10 * count
            )
            guard started.count == before + count else { throw BenchError("a task started twice (or never)") }
            return Double(count) / elapsed.seconds
        }
    }

    static func appends(_ stores: [Store], count: Int, writers: Int) async throws -> Double {
        let elapsed = try await concurrently(stores.count * writers) { slot in
            for n in stride(from: slot, to: count, by: stores.count * writers) {
                try await stores[slot % stores.count].ledger.append(Self.draft(n))
            }
        }
        return Double(count) / elapsed.seconds
    }

    static func draft(_ n: Int) -> EventDraft {
        EventDraft(type: Event.Kind(rawValue: "bench.event"), payload: ["n": .int(n)])
    }
}
