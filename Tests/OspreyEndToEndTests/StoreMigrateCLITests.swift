import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

/// `osprey store migrate` and `osprey store verify`, the built binary against a private PostgreSQL server.
struct StoreMigrateCLITests {
    @Test func aHomesStoreMovesToPostgresAndVerifiesFromTheCLI() async throws {
        let osprey = try OspreyExecutable.locate()
        let directory = try TemporaryDirectory(prefix: "osprey-migrate")
        defer { directory.remove() }
        let home = Home(root: directory.url)
        _ = try home.bootstrap()
        let store = try Store.open(home: home)
        for n in 0..<240 {
            try await store.ledger.append(
                EventDraft(type: Event.Kind(rawValue: "test.event"), actor: .system, payload: ["n": .int(n)])
            )
        }
        // Besides the ledger: a session with messages, a task under a parent, a token, a schedule, a memory with
        // its vector
        let session = try await store.sessions.create(title: "kept", actor: .system)
        for text in ["first", "second"] {
            _ = try await store.sessions.append(.user(text), to: session.id, actor: .system)
        }
        let parent = try await store.tasks.submit(Tasks.Draft(title: "parent", instructions: "x"), actor: .system)
        let child = try await store.tasks.submit(
            Tasks.Draft(title: "child", instructions: "y", parent: parent.id),
            actor: .system
        )
        _ = try await store.tokens.create(name: "ci", role: .operator, actor: .system)
        _ = try await store.schedules.add(
            Schedules.Draft(spec: "@every 1h", title: "hourly", instructions: "z", nextFireAt: Date()),
            actor: .system
        )
        try await store.memories.index(MemorySamples.osprey, event: nil)
        try await store.memories.setEmbedding(Data([1, 2, 3, 4]), by: "m", for: "mem_1")
        let events = try await store.ledger.lastSeq()
        let server = try await PostgresServer()
        do {
            let url = try await server.createDatabase("cluster")
            let args = ["--home", directory.path]
            // When the home's ledger is copied into the database
            let migrated = try await osprey.run(["store", "migrate", "--to", url] + args)
            #expect(migrated.status == 0, "\(migrated.stderr)")
            #expect(migrated.stdout.contains("(\(events) events)"), "\(migrated.stdout)")
            let head = try await store.ledger.verify().head
            #expect(migrated.stdout.contains("home: ok, \(events) events, head \(head)"))
            #expect(migrated.stdout.contains("postgres: ok, \(events) events, head \(head)"))
            // Then the cluster's ledger verifies from the CLI, a second run copies nothing, and bad input is a clear
            // error
            let verified = try await osprey.run(["store", "verify", "--url", url, "--json"] + args)
            #expect(verified.status == 0)
            #expect(try JSONValue.parse(verified.stdout)["count"]?.intValue == events)
            let again = try await osprey.run(["store", "migrate", "--to", url] + args).stdout
            #expect(again.contains("copied 0 rows"), "\(again)")
            // And everything else came along, as the gateway will read it
            let cluster = try await Store.open(
                postgres: try PostgresTarget(url: url),
                node: "test",
                ledgerKey: try home.readLedgerKey()
            )
            defer { cluster.close() }
            #expect(try await cluster.sessions.get(session.id).title == "kept")
            #expect(try await cluster.sessions.messages(of: session.id).map(\.message.text) == ["first", "second"])
            #expect(try await cluster.tasks.get(child.id).parent == parent.id)
            #expect(try await cluster.tasks.get(child.id).depth == 1)
            #expect(try await cluster.tokens.list().map(\.name).contains("ci"))
            #expect(try await cluster.schedules.list().map(\.title) == ["hourly"])
            // Stemmed full text, in PostgreSQL's words
            #expect(try await cluster.memories.keywordSearch(["diving"], limit: 5) == ["mem_1"])
            #expect(try cluster.memories.embeddings(by: "m").map(\.embedding) == [Data([1, 2, 3, 4])])
            // The cluster's chain goes on from the copied head
            try await cluster.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.after"), actor: .system))
            #expect(try await cluster.ledger.verify().ok)
            let malformed = try await osprey.run(["store", "migrate", "--to", "mysql://x@y/z"] + args)
            #expect(malformed.status != 0)
            #expect(malformed.stderr.contains("not a PostgreSQL URL"), "\(malformed.stderr)")
            let missing = try await osprey.run(
                ["store", "verify", "--url", "postgres://osprey@/cluster?host=/nonexistent"] + args
            )
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("PostgreSQL unreachable"), "\(missing.stderr)")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
