import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Synchronization
import Testing

/// Several nodes (each a `PostgresStore` with its own connection pool, as each gateway has) on one private PostgreSQL
/// server: one ledger, tasks done once, schedules fired once, events fanned out.
struct PostgresClusterTests {
    static let key = Array(repeating: UInt8(5), count: 32)

    /// Starts a server, opens `count` nodes on it (schema created), runs `body`, stops everything.
    static func withCluster(
        nodes count: Int,
        _ body: @Sendable (PostgresServer, [PostgresStore]) async throws -> Void
    ) async throws {
        let server = try await PostgresServer()
        let target = try PostgresTarget(url: server.url())
        let nodes = (0..<count).map { PostgresStore(target: target, node: "node-\($0)", ledgerKey: key) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { await node.run() } }
            defer { group.cancelAll() }
            for node in nodes { try await node.migrate() }
            do {
                try await body(server, nodes)
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        }
    }

    @Test func threeNodesCompleteAThousandTasksExactlyOnce() async throws {
        try await Self.withCluster(nodes: 3) { _, nodes in
            // Given 1,000 tasks submitted through all three nodes
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, node) in nodes.enumerated() {
                    group.addTask {
                        for n in stride(from: index, to: 1000, by: 3) {
                            try await node.queue.submit(title: "t\(n)", instructions: "do \(n)", priority: n % 10)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // When four workers on each node claim and finish until the queue is empty
            let finished = Shared<[String: [String]]>([:])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in nodes {
                    for _ in 0..<4 {
                        group.addTask {
                            while let task = try await node.queue.claim(lease: .seconds(30)) {
                                try await node.queue.finish(task.id, result: "done by \(node.node)")
                                finished.withLock { $0[task.id.rawValue, default: []].append(node.node) }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Then each task completed once, by one node, and the one chain holds 3,000 events and verifies
            let byTask = finished.withLock { $0 }
            #expect(byTask.count == 1000)
            #expect(byTask.values.allSatisfy { $0.count == 1 })
            #expect(try await nodes[1].queue.counts() == ["completed": 1000])
            let completions = try await nodes[2].ledger.events(
                filter: EventFilter(type: "task.completed"),
                limit: 5000
            )
            #expect(completions.count == 1000)
            #expect(Set(completions.compactMap(\.task)).count == 1000)
            let verification = try await nodes[0].ledger.verify()
            #expect(verification.ok)
            #expect(verification.count == 3000)
        }
    }

    @Test func aDeadNodesTaskIsResumedElsewhereWithoutRepeatingItsEffects() async throws {
        let files = try TemporaryDirectory()
        defer { files.remove() }
        try await Self.withCluster(nodes: 2) { server, nodes in
            let (alive, doomed) = (nodes[0], nodes[1])
            let id = try await alive.queue.submit(title: "write once", instructions: "append a line")
            let file = files.url.appendingPathComponent("effect.txt")
            try Data().write(to: file)
            // Given a node that claims the task, writes the file (journalled), begins a second effect and dies
            let claimed = try #require(try await doomed.queue.claim(lease: .seconds(5)))
            #expect(claimed.attempt == 1)
            #expect(try await doomed.queue.begin(effect: "write-file", of: id) == .run)
            let handle = try FileHandle(forWritingTo: file)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("written by \(doomed.node)\n".utf8))
            try handle.close()
            try await doomed.queue.finish(effect: "write-file", of: id, result: "1 line")
            #expect(try await doomed.queue.begin(effect: "notify", of: id) == .run)
            // (its connections cut, as when the process is killed)
            try await server.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'osprey:node-1'"
            )
            // When the lease has run out, the other node claims the task
            #expect(try await alive.queue.claim(lease: .seconds(30)) == nil)  // still leased
            var resumed: QueuedTask?
            try await TestRuns.waitUntil {
                resumed = try await alive.queue.claim(lease: .seconds(30))
                return resumed != nil
            }
            // Then it resumes the run without repeating what the dead node did, nor what it may have done
            let task = try #require(resumed)
            #expect(task.id == id)
            #expect(task.attempt == 2)
            #expect(task.resumedFrom == doomed.node)
            #expect(try await alive.queue.begin(effect: "write-file", of: id) == .done("1 line"))
            #expect(try await alive.queue.begin(effect: "notify", of: id) == .interrupted(node: doomed.node))
            try await alive.queue.finish(id, result: "resumed")
            #expect(try String(contentsOf: file, encoding: .utf8) == "written by node-1\n")
            // And the dead node, were it to come back, can neither renew nor finish the task
            #expect(try await doomed.queue.heartbeat(id, lease: .seconds(30)) == false)
            await #expect(throws: StoreError.self) { try await doomed.queue.finish(id, result: "late") }
            let started = try await alive.ledger.events(filter: EventFilter(type: "task.started", task: id))
            #expect(started.map { $0.payload["node"]?.stringValue } == ["node-1", "node-0"])
            #expect(started.last?.payload["resumed_from"]?.stringValue == "node-1")
            #expect(try await alive.ledger.verify().ok)
        }
    }

    @Test func capsAndLanesHoldAcrossNodes() async throws {
        try await Self.withCluster(nodes: 3) { _, nodes in
            for n in 0..<4 {
                try await nodes[0].queue.submit(title: "a\(n)", instructions: "-", provider: "anthropic")
            }
            try await nodes[0].queue.submit(title: "o", instructions: "-", provider: "openai")
            let caps = PostgresTaskQueue.Caps(total: 3, perProvider: ["anthropic": 2])
            // Two anthropic tasks, then the openai one; the cap on anthropic holds whichever node asks
            var claimed: [(node: PostgresStore, task: QueuedTask)] = []
            for node in nodes + nodes {
                if let task = try await node.queue.claim(lease: .seconds(30), caps: caps) {
                    claimed.append((node, task))
                }
            }
            #expect(claimed.map(\.task.provider) == ["anthropic", "anthropic", "openai"])
            try await claimed[2].node.queue.finish(claimed[2].task.id)
            #expect(try await nodes[2].queue.claim(lease: .seconds(30), caps: caps) == nil)  // anthropic still full
            // A lane (a session) runs one task at a time, in order, wherever it is claimed (the two anthropic tasks
            // left wait for their provider)
            let anthropic = PostgresTaskQueue.Caps(perProvider: ["anthropic": 2])
            let first = try await nodes[0].queue.submit(title: "s1", instructions: "-", priority: 1, lane: "ses_1")
            let second = try await nodes[1].queue.submit(title: "s2", instructions: "-", priority: 9, lane: "ses_1")
            let laneTask = try #require(try await nodes[2].queue.claim(lease: .seconds(30), caps: anthropic))
            #expect(laneTask.id == first)
            #expect(try await nodes[0].queue.claim(lease: .seconds(30), caps: anthropic) == nil)
            try await nodes[2].queue.finish(first)
            #expect(try await nodes[1].queue.claim(lease: .seconds(30), caps: anthropic)?.id == second)
        }
    }

    @Test func aScheduleFiresOncePerTickAcrossNodesAndAfterTheLeaderDies() async throws {
        try await Self.withCluster(nodes: 3) { server, nodes in
            // Every node fires the same ticks at once: one claim wins each
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in nodes {
                    group.addTask {
                        for tick in 0..<20 { try await node.ticks.fire(schedule: "race", tick: "\(tick)") }
                    }
                }
                try await group.waitForAll()
            }
            #expect(
                try await nodes[0].ledger.events(filter: EventFilter(type: "schedule.fired"), limit: 100).count == 20
            )

            // Given three nodes campaigning to lead the scheduler, the leader firing a tick every 50 ms
            let counter = Shared(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in nodes {
                    group.addTask {
                        try await node.ticks.campaign("scheduler", retry: .milliseconds(100)) {
                            while true {
                                let tick = counter.withLock { value -> Int in
                                    value += 1
                                    return value / 2  // every tick is tried twice
                                }
                                try await node.ticks.fire(schedule: "every-50ms", tick: "\(tick)")
                                try await Task.sleep(for: .milliseconds(25))
                            }
                        }
                    }
                }
                try await TestRuns.waitUntil { try await Self.leaders(nodes[0]).count == 1 }
                try await TestRuns.waitUntil { counter.withLock { $0 } >= 20 }
                // When the leader's connection dies (its lock with it)
                try await server.psql(
                    """
                    SELECT pg_terminate_backend(l.pid) FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.granted
                    """
                )
                // Then another node takes over and the ticks go on
                try await TestRuns.waitUntil { try await Self.leaders(nodes[0]).count == 2 }
                let atHandover = counter.withLock { $0 }
                try await TestRuns.waitUntil { counter.withLock { $0 } >= atHandover + 20 }
                group.cancelAll()
            }
            let fired = try await nodes[1].ledger.events(filter: EventFilter(type: "schedule.fired"), limit: 1000)
                .filter { $0.payload["schedule"]?.stringValue == "every-50ms" }
            let ticks = fired.compactMap { $0.payload["tick"]?.stringValue }
            #expect(Set(ticks).count == ticks.count)  // no tick fired twice
            #expect(Set(fired.compactMap { $0.payload["node"]?.stringValue }).count >= 2)
            let leaders = try await Self.leaders(nodes[0])
            #expect(leaders[0] != leaders[1])
            #expect(try await nodes[2].ledger.verify().ok)
        }
    }

    static func leaders(_ node: PostgresStore) async throws -> [String] {
        try await node.ledger.events(filter: EventFilter(type: "cluster.leader"), limit: 100)
            .compactMap { $0.payload["node"]?.stringValue }
    }

    @Test func aFollowerOnOneNodeSeesEveryEventOfTheOthersInOrder() async throws {
        try await Self.withCluster(nodes: 3) { _, nodes in
            try await nodes[1].ledger.append(EventDraft(type: Event.Kind(rawValue: "test.before"), actor: .system))
            let seen = Shared<[Int]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await nodes[0].ledger.follow(after: 0) { event in seen.withLock { $0.append(event.seq) } }
                }
                for node in nodes[1...] {
                    group.addTask {
                        for n in 0..<150 {
                            try await node.ledger.append(
                                EventDraft(
                                    type: Event.Kind(rawValue: "test.made"),
                                    actor: .system,
                                    payload: ["n": .int(n)]
                                )
                            )
                        }
                    }
                }
                try await TestRuns.waitUntil { seen.withLock { $0.count } >= 301 }
                group.cancelAll()
            }
            #expect(seen.withLock { $0 } == Array(1...301))
        }
    }

    @Test func aDatabaseRestartMidRunLosesAndRepeatsNoEvent() async throws {
        try await Self.withCluster(nodes: 1) { server, nodes in
            let node = nodes[0]
            let written = Shared<[Int]>([])
            let failures = Shared<[String]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for n in 0..<60 {
                            do {
                                let event = try await node.ledger.append(
                                    EventDraft(
                                        type: Event.Kind(rawValue: "test.write"),
                                        actor: .system,
                                        payload: ["w": .int(writer), "n": .int(n)]
                                    )
                                )
                                written.withLock { $0.append(event.seq) }
                            } catch {
                                failures.withLock { $0.append(String(describing: error)) }
                            }
                        }
                    }
                }
                try await TestRuns.waitUntil { written.withLock { $0.count } >= 40 }
                try await server.stopServer(mode: "fast")
                try await Task.sleep(for: .milliseconds(300))
                try await server.start()
                try await group.waitForAll()
            }
            // Every append either landed once or failed with a clear error, and the chain holds exactly the ones that
            // landed
            let seqs = written.withLock { $0 }
            let errors = failures.withLock { $0 }
            #expect(seqs.count + errors.count == 240)
            #expect(errors.allSatisfy { $0.contains("PostgreSQL") })
            #expect(seqs.count > 40)
            let verification = try await node.ledger.verify()
            #expect(verification.ok)
            #expect(verification.count == seqs.count)
            #expect(Set(seqs).count == seqs.count)
        }
    }

    @Test func theLedgerRefusesEditsAndVerifiesWithTheHomesRules() async throws {
        try await Self.withCluster(nodes: 1) { server, nodes in
            for n in 0..<5 {
                try await nodes[0].ledger.append(
                    EventDraft(type: Event.Kind(rawValue: "test.event"), actor: .system, payload: ["n": .int(n)])
                )
            }
            await #expect(throws: PostgresServer.ServerError.self) {
                try await server.psql("UPDATE events SET payload = '{\"n\":9}' WHERE seq = 3")
            }
            await #expect(throws: PostgresServer.ServerError.self) {
                try await server.psql("DELETE FROM events WHERE seq = 5")
            }
            // Someone with the database's owner rights can drop the guard; the signed head still gives them away
            try await server.psql(
                "ALTER TABLE events DISABLE TRIGGER events_are_permanent; DELETE FROM events WHERE seq = 5"
            )
            let verification = try await nodes[0].ledger.verify()
            #expect(!verification.ok)
            #expect(verification.firstBadSeq == 5)
            #expect(verification.reason?.contains("events were removed") == true)
            // A node with another key cannot vouch for the head
            let stranger = PostgresStore(
                target: nodes[0].target,
                node: "stranger",
                ledgerKey: Array(repeating: 1, count: 32)
            )
            let reason = try await stranger.withRunning { stranger in try await stranger.ledger.verify().reason }
            #expect(reason?.contains("signature is invalid") == true)
        }
    }

    @Test func aHomesLedgerIsCopiedWithItsSeqsAndHashesAndVerifiesOnBothSides() async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let sqlite = try Store.open(path: home.path + "/osprey.db", ledgerKey: Self.key)
        for n in 0..<1200 {
            try await sqlite.ledger.append(
                EventDraft(
                    type: Event.Kind(rawValue: "test.event"),
                    actor: .agent("a"),
                    session: Session.ID("ses_\(n % 7)"),
                    payload: ["n": .int(n)]
                )
            )
        }
        try await Self.withCluster(nodes: 1) { _, nodes in
            let target = nodes[0]
            // When the home's ledger is copied
            let first = try await PostgresMigration.copyLedger(from: sqlite, to: target)
            #expect(first.copied == 1200)
            #expect(first.source.ok && first.target.ok)
            #expect(first.target.head == first.source.head)
            let original = try await sqlite.ledger.events(after: 0, limit: 1200)
            let copied = try await target.ledger.events(after: 0, limit: 1200)
            #expect(copied == original)
            // A second run copies only what is new; the cluster then goes on with the same chain
            try await sqlite.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.later"), actor: .system))
            #expect(try await PostgresMigration.copyLedger(from: sqlite, to: target).copied == 1)
            try await target.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.cluster"), actor: .system))
            #expect(try await target.ledger.verify().count == 1202)
            // A home with another chain is refused, not merged
            let other = try Store.inMemory(ledgerKey: Self.key)
            try await other.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.other"), actor: .system))
            await #expect(throws: StoreError.self) { try await PostgresMigration.copyLedger(from: other, to: target) }
        }
    }
}

/// A value the test's concurrent tasks update together.
private final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T>(_ body: (inout sending Value) -> sending T) -> T { value.withLock(body) }
}
