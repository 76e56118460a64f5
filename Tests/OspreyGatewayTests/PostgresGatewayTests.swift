import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

/// Gateways whose `[store]` is one PostgreSQL database: what one of them does through the API, the other reads.
struct PostgresGatewayTests {
    @Test func twoGatewaysOnOnePostgreSQLDatabaseShareSessionsMessagesAndTheLedger() async throws {
        let server = try await PostgresServer()
        do {
            let config = try OspreyConfig(
                toml: """
                    [store]
                    backend = "postgres"
                    url = "\(server.url())"
                    """
            )
            #expect(config.store.backend == .postgres)
            let directory = try TemporaryDirectory()
            let home = Home(root: directory.url)
            try home.bootstrap()
            var stores: [Store] = []
            for node in ["a", "b"] {
                var named = config
                named.store.node = node
                stores.append(
                    try await Kernel.openStore(home: home, config: named, durability: .full, telemetry: Telemetry())
                )
            }
            #expect(stores.map(\.dialect) == [.postgres, .postgres])
            let a = try await TestGateway(config: config, store: stores[0])
            let b = try await TestGateway(config: config, store: stores[1])
            let session = try await a.app().test(.router) { client in
                let created = try await client.post("/api/sessions", #"{"title":"shared"}"#)
                #expect(created.status == .created)
                let session = try #require(created.json["id"]?.stringValue)
                let sent = try await client.post("/api/sessions/\(session)/messages", #"{"content":"hello"}"#)
                #expect(sent.status == .ok)
                return session
            }
            try await b.app().test(.router) { client in
                try await client.execute(
                    uri: "/api/sessions/\(session)/messages",
                    method: .get,
                    headers: TestGateway.auth()
                ) { response in
                    #expect(response.status == .ok)
                    let texts = response.json["messages"]?.arrayValue?.compactMap {
                        $0["message"]?["content"]?.arrayValue?.first?["text"]?.stringValue
                    }
                    #expect(texts == ["hello", "Hello!"])
                }
                try await client.execute(uri: "/api/audit/verify", method: .get, headers: TestGateway.auth()) {
                    #expect($0.status == .ok)
                    #expect($0.json["ok"] == true)
                    #expect(($0.json["count"]?.intValue ?? 0) >= 4)
                }
                // A backup copies the home's SQLite file, which this store does not have: refused, with the reason
                let backup = try await client.post("/api/backups")
                #expect(backup.status == .conflict)
                #expect(backup.json["error"]?["message"]?.stringValue?.contains("pg_dump") == true)
            }
            for store in stores { store.close() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// Two stores (two gateways' worth) on one private server, each with its feed running, for `body`.
    static func withTwoNodes(_ body: @Sendable (Store, Store) async throws -> Void) async throws {
        try await withNodes(2) { try await body($0[0], $0[1]) }
    }

    /// `count` stores (gateways "a", "b", ...) on one private server, each with its feed running, for `body`.
    static func withNodes(_ count: Int, _ body: @Sendable ([Store]) async throws -> Void) async throws {
        let server = try await PostgresServer()
        do {
            let target = try PostgresTarget(url: server.url())
            var stores: [Store] = []
            for node in "abcdefgh".prefix(count).map(String.init) {
                stores.append(
                    try await Store.open(postgres: target, node: node, ledgerKey: Array(repeating: 3, count: 32))
                )
            }
            let nodes = stores
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in nodes { group.addTask { await store.feed(logger: Logger(label: "test")) } }
                defer { group.cancelAll() }
                try await body(nodes)
            }
            for store in stores { store.close() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func eachGatewaysBusHearsTheOthersEventsOnceInOrderAndItsOwnOnce() async throws {
        try await Self.withTwoNodes { a, b in
            // The feed reads from the ledger's end as it starts: b appends probes until a's bus has heard one
            let probes = a.ledger.bus.subscribe { $0.type.rawValue == "test.probe" }
            let ready = Mutex(false)
            let listener = Task {
                for await _ in probes {
                    ready.withLock { $0 = true }
                    return
                }
            }
            try await TestRuns.waitUntil {
                // Each try waits TestRuns' own pause before the next: a probe every 10 ms until one is heard
                try await b.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.probe")))
                return ready.withLock { $0 }
            }
            listener.cancel()
            let heard = a.ledger.bus.subscribe { $0.type.rawValue != "test.probe" }
            var iterator = heard.makeAsyncIterator()
            var seen: [String] = []
            for name in ["b1", "b2", "b3"] {
                try await b.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.\(name)")))
            }
            try await a.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.a1")))
            try await b.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.b4")))
            while seen.last != "test.b4", let event = await iterator.next() { seen.append(event.type.rawValue) }
            // b's events in their order, a's own once, nothing twice
            #expect(seen.filter { $0.hasPrefix("test.b") } == ["test.b1", "test.b2", "test.b3", "test.b4"])
            #expect(seen.filter { $0 == "test.a1" }.count == 1)
            #expect(Set(seen).count == seen.count)
            // And a follower on a sees the whole chain in seq order, as committed by both
            let all = try await a.ledger.events(after: 0, limit: 100)
            #expect(all.map(\.seq) == Array(1...all.count))
            #expect(try await a.ledger.verify().ok)
            #expect(try await b.ledger.verify().ok)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func anApprovalDecidedThroughOneGatewayWakesTheRunWaitingOnTheOther() async throws {
        try await Self.withTwoNodes { a, b in
            // A clock that never moves: only a decision can end the wait (a's own desk is never told of it)
            let desk = ApprovalDesk(approvals: a.approvals, lifetime: .seconds(60), clock: ManualClock())
            // A child of the test's task: cancelled with it if the time limit passes
            async let waiting = desk.decide(
                ApprovalRequest(
                    agent: "default",
                    session: nil,
                    callID: "call_1",
                    tool: "run_command",
                    arguments: #"{"command":"make"}"#,
                    argumentsHash: "h",
                    risk: .exec,
                    rule: "approval",
                    reason: "runs a command"
                )
            )
            var pending: [Approval] = []
            try await TestRuns.waitUntil {
                pending = try await b.approvals.list(status: .pending)
                return !pending.isEmpty
            }
            _ = try await b.approvals.decide(pending[0].id, grant: true, by: .user("alice"))
            let outcome = try await waiting
            #expect(outcome == .granted(approvalID: pending[0].id.rawValue, scope: "once"))
            #expect(try await a.approvals.get(pending[0].id).status == .used)
        }
    }

    /// Both gateways start the task at once: whether each one's claim won, in order.
    static func race(_ a: Store, _ b: Store, _ id: TaskRecord.ID) async -> [Bool] {
        await withTaskGroup(of: (Int, Bool).self) { group in
            group.addTask { (0, await claims(a, id)) }
            group.addTask { (1, await claims(b, id)) }
            var results = [false, false]
            for await (index, won) in group { results[index] = won }
            return results
        }
    }

    /// Whether `store`'s gateway starts the task (false when another gateway's claim won).
    static func claims(_ store: Store, _ id: TaskRecord.ID) async -> Bool {
        (try? await store.tasks.start(id)) != nil
    }

    @Test func aTaskIsStartedByExactlyOneGatewayAndResumedOnlyByIt() async throws {
        try await Self.withTwoNodes { a, b in
            // Fifty tasks, each claimed by both gateways at once: one claim wins, the other is refused
            var winners: [String: Int] = [:]
            for n in 0..<50 {
                let task = try await a.tasks.submit(
                    Tasks.Draft(title: "t\(n)", instructions: "x"),
                    actor: .user("test")
                )
                let results = await Self.race(a, b, task.id)
                #expect(results.filter { $0 }.count == 1)
                let winner = results.firstIndex(of: true).map { $0 == 0 ? "a" : "b" } ?? "none"
                winners[winner, default: 0] += 1
                #expect(try await a.tasks.get(task.id).attempts == 1)
            }
            #expect(winners["none"] == nil)
            // A running task is resumed (after a restart) only by the gateway that claimed it
            let ownedByA = try await a.tasks.unfinished().map(\.id)
            let ownedByB = try await b.tasks.unfinished().map(\.id)
            #expect(ownedByA.count == winners["a", default: 0])
            #expect(ownedByB.count == winners["b", default: 0])
            #expect(Set(ownedByA).isDisjoint(with: ownedByB))
            if let mine = ownedByA.first {
                #expect(try await a.tasks.start(mine).attempts == 2)
                #expect(await !Self.claims(b, mine))
            }
            let started = try await a.ledger.events(after: 0, filter: EventFilter(type: "task.started"), limit: 500)
            #expect(started.count == 50 + (ownedByA.isEmpty ? 0 : 1))
        }
    }

    @Test func aRunningTaskWhoseGatewayStopsBeatingIsAdoptedByExactlyOneOtherAndItsOwnerLetsGo() async throws {
        try await Self.withNodes(3) { stores in
            let (a, b, c) = (stores[0], stores[1], stores[2])
            let task = try await a.tasks.submit(Tasks.Draft(title: "long", instructions: "x"), actor: .user("test"))
            _ = try await a.tasks.start(task.id)
            #expect(try await a.tasks.heartbeat(task.id))
            // Within its lease nobody takes it
            #expect(try await b.tasks.adoptOrphans(lease: .seconds(30)).isEmpty)
            // Past it (as seen a minute later), b and c sweep at once: one of them adopts it
            let later = Date().addingTimeInterval(60)
            let adopted = try await withThrowingTaskGroup(of: [TaskRecord].self) { group in
                group.addTask { try await b.tasks.adoptOrphans(lease: .seconds(30), now: later) }
                group.addTask { try await c.tasks.adoptOrphans(lease: .seconds(30), now: later) }
                var all: [TaskRecord] = []
                for try await some in group { all += some }
                return all
            }
            #expect(adopted.map(\.id) == [task.id])
            let byB = try await b.tasks.unfinished().contains { $0.id == task.id }
            let (owner, name) = byB ? (b, "b") : (c, "c")
            // The adopter resumes it (a second attempt); the old owner's heartbeat says it is no longer its own
            #expect(try await owner.tasks.unfinished().map(\.id) == [task.id])
            #expect(try await a.tasks.unfinished().isEmpty)
            #expect(try await !a.tasks.heartbeat(task.id))
            #expect(try await owner.tasks.start(task.id).attempts == 2)
            let events = try await a.ledger.events(after: 0, filter: EventFilter(type: "task.adopted"), limit: 10)
            #expect(events.count == 1)
            #expect(events.first?.payload["from"] == "a")
            #expect(events.first?.payload["node"]?.stringValue == name)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aSessionsLaneIsHeldByOneGatewayAndFreedWhenItLetsGoOrGoes() async throws {
        try await Self.withNodes(2) { stores in
            let (a, b) = (try #require(stores[0].lanes), try #require(stores[1].lanes))
            let session = Session.ID("ses_lane")
            try await a.acquire(session)
            #expect(try await !b.tryAcquire(session))
            #expect(try await b.tryAcquire(Session.ID("ses_other")))  // another session's lane is free
            a.release(session)
            try await TestRuns.waitUntil { try await b.tryAcquire(session) }
            #expect(try await !a.tryAcquire(session))
            // b's gateway goes (its connections close): its lanes go with it
            stores[1].close()
            try await TestRuns.waitUntil { try await a.tryAcquire(session) }
        }
    }

    @Test func aSecondGatewayWithTheSameNodeNameIsRefusedWhileTheFirstRuns() async throws {
        let url = try await PostgresServer.sharedDatabase()
        let config = try OspreyConfig(toml: "[store]\nbackend = \"postgres\"\nurl = \"\(url)\"\nnode = \"gw-1\"")
        let homes = [try TemporaryDirectory(), try TemporaryDirectory()]
        defer { for home in homes { home.remove() } }
        let first = try await Kernel.boot(home: Home(root: homes[0].url), config: config)
        do {
            _ = try await Kernel.boot(home: Home(root: homes[1].url), config: config)
            Issue.record("a second gateway named gw-1 started beside the first")
        } catch let error as ConfigError {
            #expect(error.description.contains("another gateway on this database runs as 'gw-1'"))
        }
        // Once the first has gone, the name is free
        first.store.close()
        let second = try await Kernel.boot(home: Home(root: homes[1].url), config: config)
        second.store.close()
    }

    @Test func aPostgresStoreNeedsAURLWithoutAPasswordAndAPasswordByReference() throws {
        #expect(throws: ConfigError.self) { try OspreyConfig(toml: "[store]\nbackend = \"postgres\"") }
        #expect(throws: ConfigError.self) {
            try OspreyConfig(toml: "[store]\nbackend = \"postgres\"\nurl = \"postgres://u:secret@db/osprey\"")
        }
        #expect(throws: ConfigError.self) {
            try OspreyConfig(
                toml: "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@db/osprey\"\npassword = \"x\""
            )
        }
        #expect(throws: ConfigError.self) { try OspreyConfig(toml: "[store]\nbackend = \"mysql\"") }
        #expect(throws: ConfigError.self) { try OspreyConfig(toml: "[store]\nurl = \"postgres://u@db/osprey\"") }
        let config = try OspreyConfig(
            toml:
                "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@db/osprey\"\npassword = \"${secret:db}\"\nnode = \"n1\""
        )
        #expect(config.store.password == "${secret:db}" && config.store.node == "n1")
    }
}
