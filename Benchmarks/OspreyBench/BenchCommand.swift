import ArgumentParser
import Foundation
import GRDB
import OspreyCore
import OspreyStore
import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// `osprey-bench` (also reached as `osprey bench`): measurements reported in notes, never asserted in tests.
///
/// A separate executable so the `osprey` CLI does not link what only the benchmarks use (GRDB directly, the agent,
/// the scheduler, an in-process Hummingbird server); `osprey bench ARGS` execs this binary with the same arguments.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osprey-bench",
        abstract: "Run benchmarks and print the figures.",
        subcommands: [
            LedgerBench.self, StartupBench.self, AgentBench.self, GatewayBench.self, ScaleBench.self,
            LocalModelBench.self,
            TasksBench.self, MemoryBench.self, PoolBench.self, MCPBench.self, ToolSearchBench.self, PluginBench.self,
            ClusterBench.self,
        ]
    )
}

/// A benchmark that cannot run or whose result fails its own check: printed as one line, exit 1.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension AsyncParsableCommand {
    /// Runs a benchmark body; any error becomes one line on stderr and exit 1, never a stack trace.
    func report(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("osprey-bench: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct LedgerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Events/s: durable, group commit, WAL NORMAL, beside raw SQLite inserts of the same rows."
    )
    @Option(help: "Events for the unbatched (one fsync each) runs.") var events = 2000
    @Option(help: "Events for the batched runs.") var batchedEvents = 100_000
    @Option(help: "Events per transaction in the batched runs.") var batch = 500
    @Option(help: "Concurrent writers, one event per append, for the group-commit run.") var writers = 32
    @Option(help: "Directory for the scratch databases (default: a temp dir).") var dir: String?

    func run() async throws {
        try await report {
            let base = URL(fileURLWithPath: dir ?? NSTemporaryDirectory()).appendingPathComponent(
                "osprey-bench-\(getpid())"
            )
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: base) }
            print(
                "ledger benchmark in \(base.path) (\(events) unbatched events, \(batchedEvents) batched in \(batch)s)"
            )
            let fsyncRate = try Self.fsyncRate(in: base, count: min(events, 1000))
            print(String(format: "%-40@ %10.0f /s", "fsync (4 KiB write + fdatasync)" as NSString, fsyncRate))
            var results: [(String, Double)] = []
            func record(_ name: String, _ rate: Double) {
                results.append((name, rate))
                print(String(format: "%-40@ %10.0f events/s", name as NSString, rate))
            }
            record(
                "raw SQLite insert, FULL, 1/txn",
                try Self.raw(base.appendingPathComponent("raw-full.db").path, "FULL", events, 1)
            )
            record(
                "raw SQLite, ledger's schema, FULL, 1/txn",
                try Self.raw(base.appendingPathComponent("raw-schema.db").path, "FULL", events, 1, ledgerSchema: true)
            )
            record(
                "ledger append, FULL, 1/txn",
                try await Self.ledger(base.appendingPathComponent("ledger-full.db").path, .full, events, 1)
            )
            record(
                "raw SQLite insert, NORMAL, 1/txn",
                try Self.raw(base.appendingPathComponent("raw-normal.db").path, "NORMAL", events, 1)
            )
            record(
                "ledger append, NORMAL, 1/txn",
                try await Self.ledger(base.appendingPathComponent("ledger-normal.db").path, .normal, events, 1)
            )
            record(
                "raw SQLite insert, FULL, batched",
                try Self.raw(base.appendingPathComponent("raw-batch.db").path, "FULL", batchedEvents, batch)
            )
            record(
                "ledger group commit, FULL, batched",
                try await Self.ledger(base.appendingPathComponent("ledger-batch.db").path, .full, batchedEvents, batch)
            )
            record(
                "raw SQLite insert, FULL, \(writers)/txn",
                try Self.raw(base.appendingPathComponent("raw-writers.db").path, "FULL", events * 4, writers)
            )
            record(
                "ledger, FULL, \(writers) writers, 1/append",
                try await Self.ledger(
                    base.appendingPathComponent("ledger-writers.db").path,
                    .full,
                    events * 4,
                    1,
                    writers: writers
                )
            )
            let verified = try await Self.verify(
                base.appendingPathComponent("ledger-batch.db").path,
                count: batchedEvents
            )
            for (name, rate) in [
                ("ledger verify, \(batchedEvents) events", verified.ledger),
                ("raw read + SHA-256 of each row", verified.primitive),
            ] {
                print(String(format: "%-40@ %10.0f events/s", name as NSString, rate))
            }
            print(String(format: "verify / raw read + SHA-256 = %.2f", verified.ledger / verified.primitive))
            let durable = results[2].1
            print(String(format: "durable ledger / fsync rate = %.2f", durable / fsyncRate))
            print(String(format: "durable ledger / raw SQLite durable = %.2f", durable / results[0].1))
            print(String(format: "durable ledger / raw SQLite durable, ledger's schema = %.2f", durable / results[1].1))
            print(String(format: "group commit / raw SQLite batched = %.2f", results[6].1 / results[5].1))
            print(
                String(
                    format: "%d writers' group commit / raw SQLite in batches of %d = %.2f",
                    writers,
                    writers,
                    results[8].1 / results[7].1
                )
            )
        }
    }

    static func payload(_ n: Int) -> JSONValue {
        ["message": .string("benchmark event \(n)"), "n": .int(n), "tool": "read_file", "ok": true]
    }

    static func fsyncRate(in directory: URL, count: Int) throws -> Double {
        let path = directory.appendingPathComponent("fsync.bin").path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw BenchError("cannot open \(path)") }
        defer { close(descriptor) }
        let block = [UInt8](repeating: 0x5A, count: 4096)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for index in 0..<count {
                _ = block.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 4096, off_t(index * 4096)) }
                _ = fdatasync(descriptor)
            }
        }
        return Double(count) / elapsed.seconds
    }

    /// The same rows the ledger writes (with precomputed hashes), inserted with no hashing or head upkeep. With
    /// `ledgerSchema`, into the ledger's own schema: its two indexes besides the id's, and the one-row head updated in
    /// every transaction, so the pages each commit writes are the ones an append writes.
    static func raw(
        _ path: String,
        _ synchronous: String,
        _ count: Int,
        _ batch: Int,
        ledgerSchema: Bool = false
    ) throws -> Double {
        let pool = try DatabasePool(path: path)
        // After opening, as the Store does: the pool's WAL set-up runs after `prepareDatabase` and would put
        // `synchronous` back to NORMAL, so a pragma there would measure NORMAL under the name FULL.
        try pool.barrierWriteWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        guard try pool.read({ _ in true }),
            try pool.writeWithoutTransaction({ db in try Int.fetchOne(db, sql: "PRAGMA synchronous") })
                == (synchronous == "FULL" ? 2 : 1)
        else { throw BenchError("raw SQLite did not take synchronous = \(synchronous)") }
        try pool.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts TEXT NOT NULL, type TEXT NOT NULL,
                    actor TEXT NOT NULL, session TEXT, task TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
                    """
            )
            if ledgerSchema {
                try db.execute(
                    sql: """
                        CREATE INDEX events_by_type ON events(type, seq);
                        CREATE INDEX events_by_session ON events(session, seq);
                        CREATE TABLE ledger_head (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL,
                        signature TEXT NOT NULL);
                        INSERT INTO ledger_head VALUES (1, 0, '', '');
                        """
                )
            }
        }
        let rows = (1...count).map { n in
            (n, "evt_\(n)", WireFormat.timestamp(Date()), payload(n).canonicalJSON, String(repeating: "a", count: 64))
        }
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for chunk in stride(from: 0, to: count, by: batch) {
                try pool.write { db in
                    let statement = try db.cachedStatement(
                        sql: "INSERT INTO events VALUES (?, ?, ?, 'bench.event', 'system', NULL, NULL, ?, ?, ?)"
                    )
                    for row in rows[chunk..<min(chunk + batch, count)] {
                        try statement.execute(arguments: [row.0, row.1, row.2, row.3, row.4, row.4])
                    }
                    if ledgerSchema {
                        try db.cachedStatement(
                            sql: "UPDATE ledger_head SET seq = ?, hash = ?, signature = ? WHERE id = 1"
                        )
                        .execute(arguments: [chunk, rows[chunk].4, rows[chunk].4])
                    }
                }
            }
        }
        return Double(count) / elapsed.seconds
    }

    /// The median rate of three walks of the whole chain (`Ledger.verify`: every event re-hashed and linked, then the
    /// signed head), beside the primitive underneath: the same rows read with GRDB and each row's envelope bytes
    /// (its columns as they are stored) hashed with SHA-256.
    static func verify(_ path: String, count: Int) async throws -> (ledger: Double, primitive: Double) {
        let store = try Store.open(path: path, ledgerKey: Array(repeating: 1, count: 32), durability: .full)
        let clock = ContinuousClock()
        var walks: [Duration] = []
        for _ in 0..<3 {
            let start = clock.now
            let verification = try await store.ledger.verify()
            walks.append(clock.now - start)
            guard verification.ok, verification.count == count else {
                throw BenchError("benchmark ledger failed to verify: \(verification.reason ?? "?")")
            }
        }
        let pool = try DatabasePool(path: path)
        var reads: [Duration] = []
        for _ in 0..<3 {
            let start = clock.now
            let hashed = try await pool.read { db in
                var hashed = 0
                let rows = try Row.fetchCursor(db, sql: "SELECT * FROM events ORDER BY seq")
                var bytes: [UInt8] = []
                while let row = try rows.next() {
                    bytes.removeAll(keepingCapacity: true)
                    for index in 0..<row.count {
                        if let text = row[index] as String? { bytes.append(contentsOf: text.utf8) }
                    }
                    if !Event.sha256Hex(bytes).isEmpty { hashed += 1 }
                }
                return hashed
            }
            reads.append(clock.now - start)
            guard hashed == count else { throw BenchError("read \(hashed) of \(count) rows") }
        }
        let median = { (runs: [Duration]) in Double(count) / runs.sorted()[runs.count / 2].seconds }
        return (median(walks), median(reads))
    }

    /// Appends `count` events: in chunks of `batch` from one writer, or one event per append from `writers`
    /// concurrent writers (whose appends the store commits in groups).
    static func ledger(
        _ path: String,
        _ durability: Store.Durability,
        _ count: Int,
        _ batch: Int,
        writers: Int = 1
    ) async throws -> Double {
        let store = try Store.open(path: path, ledgerKey: Array(repeating: 1, count: 32), durability: durability)
        let drafts = (1...count).map { EventDraft(type: Event.Kind(rawValue: "bench.event"), payload: payload($0)) }
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for chunk in stride(from: writer * batch, to: count, by: batch * writers) {
                        try await store.ledger.append(contentsOf: Array(drafts[chunk..<min(chunk + batch, count)]))
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        let verification = try await store.ledger.verify()
        guard verification.ok, verification.count == count else {
            throw BenchError("benchmark ledger failed to verify")
        }
        if writers > 1 {
            let groups = store.commitStatistics
            print("  (\(groups.transactions) appends in \(groups.groups) commits)")
        }
        return Double(count) / elapsed.seconds
    }
}

extension Duration {
    /// The duration in seconds, as a double.
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}

struct StartupBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "startup",
        abstract: "Gateway cold start to first /health 200 (ms) and idle RSS (MB)."
    )
    @Option(help: "Runs (each on a fresh home, unless --existing-home).") var runs = 5
    @Option(help: "Port to use.") var port = 18599
    @Option(help: "The osprey executable to start (default: the one built beside this binary).") var osprey: String?
    @Option(help: "Seconds the gateway stays idle after its first /health before its RSS is read.") var idle = 1.0
    @Flag(help: "Start every run on one home made by a first, unmeasured start (a restart), not on a fresh one.")
    var existingHome = false

    func run() async throws {
        try await report {
            let executable = try osprey ?? Self.ospreyExecutable()
            print("starting \(executable)")
            var starts: [Double] = []
            var rss: [Double] = []
            let shared = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
                "osprey-start-\(getpid())-home"
            )
            defer { try? FileManager.default.removeItem(at: shared) }
            // On an existing home a first start, not measured, makes it (its migrations, its first token).
            for run in existingHome ? -1..<runs : 0..<runs {
                let home =
                    existingHome
                    ? shared
                    : URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
                        "osprey-start-\(getpid())-\(run)"
                    )
                defer { if !existingHome { try? FileManager.default.removeItem(at: home) } }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = ["gateway", "--home", home.path, "--port", String(port)]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                let clock = ContinuousClock()
                let start = clock.now
                try process.run()
                var ready = false
                while clock.now - start < .seconds(10) {
                    if Self.healthOK(port: port) {
                        ready = true
                        break
                    }
                    usleep(500)
                }
                let elapsed = clock.now - start
                guard ready else {
                    process.terminate()
                    throw BenchError("gateway did not answer /health within 10 s")
                }
                try await Task.sleep(for: .seconds(idle))
                let resident = Self.residentMB(pid: process.processIdentifier)
                process.terminate()
                process.waitUntilExit()
                if run < 0 { continue }
                starts.append(elapsed.seconds * 1000)
                rss.append(resident)
                print(
                    String(
                        format: "run %d: first /health 200 after %.1f ms, RSS %.1f MB after %.0f s idle",
                        run + 1,
                        elapsed.seconds * 1000,
                        resident,
                        idle
                    )
                )
            }
            let sortedStarts = starts.sorted()
            let sortedRSS = rss.sorted()
            print(
                String(
                    format: "median cold start %.1f ms, median idle RSS %.1f MB",
                    sortedStarts[runs / 2],
                    sortedRSS[runs / 2]
                )
            )
        }
    }

    /// The `osprey` built beside this binary (`swift build` puts every product in one folder).
    static func ospreyExecutable() throws -> String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("osprey").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchError("no osprey executable at \(executable): run swift build --product osprey")
        }
        return executable
    }

    static func residentMB(pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return kilobytes / 1024
    }

    /// A blocking GET /health on loopback; true on a 200.
    static func healthOK(port: Int) -> Bool {
        IPv4Socket.open(host: "127.0.0.1", port: port) { descriptor, address, length -> Bool in
            guard connect(descriptor, address, length) == 0 else { return false }
            let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return false }
            return String(decoding: buffer[0..<count], as: UTF8.self).hasPrefix("HTTP/1.1 200")
        } ?? false
    }
}
