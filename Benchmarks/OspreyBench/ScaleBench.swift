import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyTools
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `osprey-bench scale`: many clients on one gateway at once, through its real HTTP API.
///
/// First `--subscribers` clients follow `/api/events/stream` (raw sockets read by one thread, so the clients cost
/// little of the CPU the gateway needs) while the benchmark writes `--events` events one at a time; every event's
/// delay to every subscriber is measured from the moment its request was sent. Then `--runs` agent runs are sent
/// at once against the scripted model: each must answer, and the ledger must still verify.
struct ScaleBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Event delivery to 1,000 SSE subscribers, and 200 concurrent agent runs, on one gateway."
    )
    @Option(help: "Clients following /api/events/stream.") var subscribers = 1000
    @Option(help: "Events written while they follow (one session each).") var events = 100
    @Option(help: "Milliseconds between two events.") var interval = 20
    @Option(help: "Agent runs sent at once (each: a new session, one tool call, two LLM round trips).") var runs = 200
    @Option(help: "Port for the gateway.") var port = 18596

    func run() async throws {
        try await report { try await AgentBench.withScriptedModel { try await measure(modelURL: $0) } }
    }

    func measure(modelURL: String) async throws {
        // Every subscriber follows with the home's token, from one address: one token's share of the streams, and
        // one address's share of the connections, must fit them all.
        let home = try GatewayBench.benchHome(
            modelURL: modelURL,
            name: "scale",
            gateway:
                "max_streams_per_token = \(subscribers + 16)\nmax_connections_per_address = \(subscribers + runs + 64)"
        )
        defer { try? FileManager.default.removeItem(at: home) }
        let gateway = try GatewayBench.startGateway(home: home, port: port)
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        let pid = gateway.processIdentifier
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                timeout: .init(connect: .seconds(10), read: .seconds(120)),
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: runs)
            )
        )
        do {
            let api = try GatewayAPI(home: home, port: port, client: client)
            try await fanOut(api, pid: pid)
            try await concurrentRuns(api, pid: pid)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// Subscribers follow the stream; events are written one at a time; each arrival is timed.
    func fanOut(_ api: GatewayAPI, pid: Int32) async throws {
        var last = try await api.lastSeq()
        let listeners = try StreamListeners(port: port, token: api.token, after: last, count: subscribers)
        defer { listeners.stop() }
        try await listeners.waitConnected(deadline: .now + .seconds(60))
        let rssConnected = StartupBench.residentMB(pid: pid)
        print(
            "\(subscribers) subscribers following /api/events/stream; gateway RSS \(String(format: "%.1f", rssConnected)) MB"
        )

        var sent: [Int: UInt64] = [:]
        let cpuBefore = GatewayBench.processCPUSeconds(pid: pid)
        for _ in 0..<events {
            let time = StreamListeners.now()
            _ = try await api.json(api.call(.POST, "/api/sessions", ["title": "fan-out"]))
            // Which events that write made: the ones after the last seen, read back through the API.
            let page = try await api.json(api.call(.GET, "/api/events?after=\(last)&limit=1000"))
            for event in page["events"]?.arrayValue ?? [] {
                guard let seq = event["seq"]?.intValue else { continue }
                sent[seq] = time
                last = max(last, seq)
            }
            try await Task.sleep(for: .milliseconds(interval))
        }
        let expected = Set(sent.keys)
        await listeners.waitDelivered(expected, deadline: .now + .seconds(10))
        let cpu = GatewayBench.processCPUSeconds(pid: pid) - cpuBefore
        let arrivals = listeners.stop()

        var delays: [Double] = []
        delays.reserveCapacity(expected.count * subscribers)
        var missing = 0
        for listener in arrivals {
            for (seq, time) in sent {
                guard let arrived = listener[seq] else {
                    missing += 1
                    continue
                }
                delays.append(Double(Int64(arrived) - Int64(time)) / 1e6)
            }
        }
        delays.sort()
        func percentile(_ p: Double) -> Double {
            delays.isEmpty ? .nan : delays[min(delays.count - 1, Int(Double(delays.count) * p))]
        }
        print(
            String(
                format:
                    "%d events × %d subscribers: %d deliveries, %d missing; delay from request to arrival p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                expected.count,
                subscribers,
                delays.count,
                missing,
                percentile(0.5),
                percentile(0.99),
                delays.last ?? .nan
            )
        )
        print(
            String(
                format: "gateway CPU %.2f ms per event delivered to all (%.1f µs per delivery)",
                cpu * 1000 / Double(max(expected.count, 1)),
                cpu * 1e6 / Double(max(delays.count, 1))
            )
        )
        if missing > 0 { throw BenchError("\(missing) deliveries never arrived") }
    }

    /// `runs` agent runs sent at once; every one must answer, and the ledger must verify afterwards.
    func concurrentRuns(_ api: GatewayAPI, pid: Int32) async throws {
        let clock = ContinuousClock()
        let cpuBefore = GatewayBench.processCPUSeconds(pid: pid)
        let start = clock.now
        let outcomes = await withTaskGroup(of: (Double, String?).self) { group in
            for _ in 0..<runs {
                group.addTask {
                    let begun = clock.now
                    do {
                        try await api.runAgent()
                        return ((clock.now - begun).seconds * 1000, nil)
                    } catch {
                        return ((clock.now - begun).seconds * 1000, "\(error)")
                    }
                }
            }
            var outcomes: [(Double, String?)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let wall = (clock.now - start).seconds
        let cpu = GatewayBench.processCPUSeconds(pid: pid) - cpuBefore
        let failures = outcomes.compactMap(\.1)
        let latencies = outcomes.map(\.0).sorted()
        let verification = try await api.json(api.call(.GET, "/api/audit/verify"))
        print(
            String(
                format:
                    "%d agent runs at once: %d failed; all done in %.2f s (%.0f runs/s); per run p50 %.1f ms, p99 %.1f ms, max %.1f ms; gateway CPU %.2f ms per run; RSS %.1f MB; ledger verifies: %@",
                runs,
                failures.count,
                wall,
                Double(runs) / wall,
                latencies[latencies.count / 2],
                latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))],
                latencies.last ?? 0,
                cpu * 1000 / Double(runs),
                StartupBench.residentMB(pid: pid),
                (verification["ok"] == true ? "yes" : "NO") as NSString
            )
        )
        if let first = failures.first { throw BenchError("\(failures.count) runs failed; the first: \(first)") }
        guard verification["ok"] == true else { throw BenchError("the ledger does not verify: \(verification)") }
    }
}

/// Clients of `/api/events/stream` on raw sockets, read by one thread: each arrival's event id and time.
final class StreamListeners: @unchecked Sendable {
    private let sockets: [Int32]
    private let stopping = Atomic<Bool>(false)
    private let connected = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)
    /// Per socket, seq → arrival time; written by the reader thread only, read after it has finished.
    private var arrivals: [[Int: UInt64]]
    /// The lowest count of distinct seqs any socket has received; for waiting without touching `arrivals`.
    private let fewest = Atomic<Int>(0)
    private var stopped = false

    /// Monotonic nanoseconds, the clock both the writer and the reader use.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    init(port: Int, token: String, after: Int, count: Int) throws {
        let request =
            "GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
            + "Accept: text/event-stream\r\nLast-Event-ID: \(after)\r\n\r\n"
        var sockets: [Int32] = []
        for _ in 0..<count {
            let descriptor =
                IPv4Socket.open(host: "127.0.0.1", port: port) { descriptor, address, length -> Int32 in
                    guard connect(descriptor, address, length) == 0 else { return -1 }
                    return dup(descriptor)
                } ?? -1
            guard descriptor >= 0 else {
                for open in sockets { close(open) }
                throw BenchError("could not connect subscriber \(sockets.count + 1): errno \(errno)")
            }
            _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
            sockets.append(descriptor)
        }
        self.sockets = sockets
        self.arrivals = Array(repeating: [:], count: count)
        Thread.detachNewThread { [self] in
            read()
            finished.signal()
        }
    }

    /// Waits until every socket has its stream open (the gateway's `: connected` line).
    func waitConnected(deadline: ContinuousClock.Instant) async throws {
        while connected.load(ordering: .relaxed) < sockets.count {
            guard ContinuousClock.now < deadline else {
                throw BenchError("only \(connected.load(ordering: .relaxed)) of \(sockets.count) subscribers connected")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits until every socket has received `expected.count` events, or the deadline.
    func waitDelivered(_ expected: Set<Int>, deadline: ContinuousClock.Instant) async {
        while fewest.load(ordering: .relaxed) < expected.count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the reader, closes the sockets and returns what each received.
    @discardableResult
    func stop() -> [[Int: UInt64]] {
        guard !stopped else { return arrivals }
        stopped = true
        stopping.store(true, ordering: .relaxed)
        finished.wait()
        for descriptor in sockets { close(descriptor) }
        return arrivals
    }

    private func read() {
        var polls = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var pending = Array(repeating: [UInt8](), count: sockets.count)
        var chunk = [UInt8](repeating: 0, count: 65536)
        let prefix = Array("id: ".utf8)
        let greeting = Array(": connected".utf8)
        while !stopping.load(ordering: .relaxed) {
            guard poll(&polls, nfds_t(polls.count), 20) > 0 else { continue }
            for index in polls.indices where polls[index].revents != 0 {
                let count = Glibc.read(polls[index].fd, &chunk, chunk.count)
                let time = Self.now()
                guard count > 0 else {
                    polls[index].fd = -1  // closed by the gateway: poll ignores it from now on
                    continue
                }
                pending[index] += chunk[0..<count]
                var start = 0
                while let newline = pending[index][start...].firstIndex(of: 10) {
                    let line = pending[index][start..<newline]
                    if line.starts(with: prefix),
                        let seq = Int(String(decoding: line.dropFirst(prefix.count), as: UTF8.self))
                    {
                        arrivals[index][seq] = time
                    } else if line.elementsEqual(greeting) {
                        connected.add(1, ordering: .relaxed)
                    }
                    start = newline + 1
                }
                pending[index].removeSubrange(0..<start)
            }
            fewest.store(arrivals.lazy.map(\.count).min() ?? 0, ordering: .relaxed)
        }
    }
}
