import ArgumentParser
import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting

/// `osprey-bench cluster`: what one, two and three gateways get out of one PostgreSQL database, beside one gateway on
/// its SQLite home, in the same run.
///
/// Each node is a `PostgresStore` of its own (its own connection pool, as each gateway has) in this process; the
/// database does all the coordination, so nodes in one process meet the same locks as nodes on three machines
/// (minus the network). Tasks are the queue's real round: submit, claim under a lease, finish, each with its ledger
/// event in the same transaction; the scripted "work" is empty, so the figure is the coordination's ceiling.
struct ClusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Tasks/s and ledger appends/s with 1, 2 and 3 gateways on PostgreSQL, beside SQLite on one node."
    )
    @Option(help: "Tasks per run.") var tasks = 2000
    @Option(help: "Ledger appends per run.") var appends = 4000
    @Option(help: "Concurrent workers (and appenders) per node.") var workers = 8
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
        let sqliteTasks = try await Self.sqliteTasks(sqlite, count: tasks, workers: workers)
        let sqliteAppends = try await Self.sqliteAppends(sqlite, count: appends, writers: workers)
        print(Self.row("SQLite, 1 node", tasks: sqliteTasks, appends: sqliteAppends, base: nil))
        for nodes in 1...3 {
            let database = "bench\(nodes)"
            let address: String
            if let server {
                address = try await server.createDatabase(database)
            } else {
                address = url ?? ""
            }
            let target = try PostgresTarget(url: address)
            let stores = (0..<nodes).map {
                PostgresStore(target: target, node: "bench-\($0)", ledgerKey: Self.key, connections: workers + 1)
            }
            let (taskRate, appendRate) = try await Self.running(stores) {
                let taskRate = try await Self.postgresTasks(stores, count: tasks, workers: workers)
                let appendRate = try await Self.postgresAppends(stores, count: appends, writers: workers)
                guard try await stores[0].ledger.verify().ok else { throw BenchError("the cluster ledger broke") }
                return (taskRate, appendRate)
            }
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

    static func running<T: Sendable>(
        _ stores: [PostgresStore],
        _ body: @Sendable () async throws -> T
    ) async throws
        -> T
    {
        try await withThrowingTaskGroup(of: T?.self) { group in
            for store in stores {
                group.addTask {
                    await store.run()
                    return nil
                }
            }
            defer { group.cancelAll() }
            for store in stores { try await store.migrate() }
            return try await body()
        }
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

    static func postgresTasks(_ stores: [PostgresStore], count: Int, workers: Int) async throws -> Double {
        let elapsed = try await concurrently(stores.count * workers) { slot in
            let store = stores[slot / workers]
            for n in stride(from: slot, to: count, by: stores.count * workers) {
                try await store.queue.submit(title: "t\(n)", instructions: "-")
            }
            while let task = try await store.queue.claim(lease: .seconds(60)) {
                try await store.queue.finish(task.id, result: "ok")
            }
        }
        guard try await stores[0].queue.counts() == ["completed": count] else {
            throw BenchError("not every task completed exactly once")
        }
        return Double(count) / elapsed.seconds
    }

    static func postgresAppends(_ stores: [PostgresStore], count: Int, writers: Int) async throws -> Double {
        let elapsed = try await concurrently(stores.count * writers) { slot in
            for n in stride(from: slot, to: count, by: stores.count * writers) {
                try await stores[slot / writers].ledger.append(Self.draft(n))
            }
        }
        return Double(count) / elapsed.seconds
    }

    static func sqliteTasks(_ store: Store, count: Int, workers: Int) async throws -> Double {
        let elapsed = try await concurrently(workers) { worker in
            for n in stride(from: worker, to: count, by: workers) {
                let task = try await store.tasks.submit(Tasks.Draft(title: "t\(n)", instructions: "-"), actor: .system)
                _ = try await store.tasks.start(task.id)
                _ = try await store.tasks.finish(task.id, result: "ok", error: nil, tokens: 0, costUSD: 0)
            }
        }
        return Double(count) / elapsed.seconds
    }

    static func sqliteAppends(_ store: Store, count: Int, writers: Int) async throws -> Double {
        let elapsed = try await concurrently(writers) { writer in
            for n in stride(from: writer, to: count, by: writers) { try await store.ledger.append(Self.draft(n)) }
        }
        return Double(count) / elapsed.seconds
    }

    static func draft(_ n: Int) -> EventDraft {
        EventDraft(type: Event.Kind(rawValue: "bench.event"), payload: ["n": .int(n)])
    }
}
