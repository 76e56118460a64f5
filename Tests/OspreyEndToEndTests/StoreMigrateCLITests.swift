import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

/// `osprey store migrate` and `osprey store verify`, the built binary against a private PostgreSQL server.
struct StoreMigrateCLITests {
    @Test func aHomesLedgerMovesToPostgresAndVerifiesFromTheCLI() async throws {
        let osprey = try OspreyExecutable.locate()
        let directory = try TemporaryDirectory(prefix: "osprey-migrate")
        defer { directory.remove() }
        let home = Home(root: directory.url)
        _ = try home.bootstrap()
        let store = try Store.open(home: home)
        for n in 0..<250 {
            try await store.ledger.append(
                EventDraft(type: Event.Kind(rawValue: "test.event"), actor: .system, payload: ["n": .int(n)])
            )
        }
        let server = try await PostgresServer()
        do {
            let url = try await server.createDatabase("cluster")
            let args = ["--home", directory.path]
            // When the home's ledger is copied into the database
            let migrated = try await osprey.run(["store", "migrate", "--to", url] + args)
            #expect(migrated.status == 0, "\(migrated.stderr)")
            #expect(migrated.stdout.contains("copied 250 events"), "\(migrated.stdout)")
            let head = try await store.ledger.verify().head
            #expect(migrated.stdout.contains("home: ok, 250 events, head \(head)"))
            #expect(migrated.stdout.contains("postgres: ok, 250 events, head \(head)"))
            // Then the cluster's ledger verifies from the CLI, a second run copies nothing, and bad input is a clear
            // error
            let verified = try await osprey.run(["store", "verify", "--url", url, "--json"] + args)
            #expect(verified.status == 0)
            #expect(try JSONValue.parse(verified.stdout)["count"]?.intValue == 250)
            #expect(try await osprey.run(["store", "migrate", "--to", url] + args).stdout.contains("copied 0 events"))
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
