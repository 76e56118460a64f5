import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Synchronization
import Testing

/// The gateway's store on a private PostgreSQL server: what the database does to the ledger from outside (a restart,
/// someone editing rows, a copy from another home).
struct PostgresLedgerTests {
    static let key = Array(repeating: UInt8(5), count: 32)

    /// A server, and a store (a gateway's) on it, for `body`; stopped afterwards whatever `body` throws.
    static func withStore(_ body: @Sendable (PostgresServer, Store) async throws -> Void) async throws {
        let server = try await PostgresServer()
        do {
            let store = try await Store.open(
                postgres: try PostgresTarget(url: server.url()),
                node: "node-0",
                ledgerKey: key
            )
            defer { store.close() }
            try await body(server, store)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test(.timeLimit(.minutes(3)))
    func aDatabaseRestartMidRunFailsSomeAppendsClearlyAndLosesOrRepeatsNone() async throws {
        try await Self.withStore { server, store in
            let written = Shared<[String: Int]>([:])  // event id → seq, for every append that was acknowledged
            let failures = Shared<[String]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for n in 0..<60 {
                            do {
                                let event = try await store.ledger.append(
                                    EventDraft(
                                        type: Event.Kind(rawValue: "test.write"),
                                        actor: .system,
                                        payload: ["w": .int(writer), "n": .int(n)]
                                    )
                                )
                                written.withLock { $0[event.id.rawValue] = event.seq }
                            } catch {
                                failures.withLock { $0.append(String(describing: error)) }
                            }
                        }
                    }
                }
                try await TestRuns.waitUntil { written.withLock { $0.count } >= 40 }
                try await server.stopServer(mode: "fast")
                try await server.start()
                try await group.waitForAll()
            }
            // Every append either was acknowledged or failed with PostgreSQL's words
            let acknowledged = written.withLock { $0 }
            let errors = failures.withLock { $0 }
            #expect(acknowledged.count + errors.count == 240)
            #expect(errors.allSatisfy { $0.contains("PostgreSQL") }, "\(errors.prefix(3))")
            #expect(acknowledged.count >= 40)
            // The writer reconnected by itself: an append now lands
            try await store.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.after"), actor: .system))
            // The chain is whole, and holds every acknowledged event once, at the seq its writer was told
            let verification = try await store.ledger.verify()
            #expect(verification.ok)
            let stored = try await store.ledger.events(after: 0, limit: 1000)
            let seqByID = Dictionary(stored.map { ($0.id.rawValue, $0.seq) }, uniquingKeysWith: { first, _ in first })
            #expect(seqByID.count == stored.count)
            #expect(acknowledged.allSatisfy { seqByID[$0.key] == $0.value })
        }
    }

    @Test func theLedgerRefusesEditsAndABreakOrAStrangersKeyShows() async throws {
        try await Self.withStore { server, store in
            for n in 0..<5 {
                try await store.ledger.append(
                    EventDraft(type: Event.Kind(rawValue: "test.event"), actor: .system, payload: ["n": .int(n)])
                )
            }
            await #expect(throws: PostgresServer.ServerError.self) {
                try await server.psql("UPDATE events SET payload = '{\"n\":9}' WHERE seq = 3")
            }
            await #expect(throws: PostgresServer.ServerError.self) {
                try await server.psql("DELETE FROM events WHERE seq = 5")
            }
            // A gateway with another key cannot vouch for the head
            let stranger = try await Store.open(
                postgres: try PostgresTarget(url: server.url()),
                node: "stranger",
                ledgerKey: Array(repeating: 1, count: 32)
            )
            defer { stranger.close() }
            #expect(try await stranger.ledger.verify().reason?.contains("signature is invalid") == true)
            // Someone with the database owner's rights can drop the guard; the signed head still gives them away
            try await server.psql(
                "ALTER TABLE events DISABLE TRIGGER events_are_permanent; DELETE FROM events WHERE seq = 5"
            )
            let verification = try await store.ledger.verify()
            #expect(!verification.ok)
            #expect(verification.firstBadSeq == 5)
            #expect(verification.reason?.contains("events were removed") == true)
        }
    }

    @Test func aCopyFromAnotherHomeIsRefusedBeforeAnythingIsWritten() async throws {
        try await Self.withStore { _, cluster in
            let home = try Store.inMemory(ledgerKey: Self.key)
            try await home.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.mine"), actor: .system))
            #expect(try await home.copy(into: cluster).events == 1)
            let other = try Store.inMemory(ledgerKey: Self.key)
            try await other.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.other"), actor: .system))
            await #expect(throws: StoreError.self) { try await other.copy(into: cluster) }
            #expect(try await cluster.ledger.lastSeq() == 1)
            // Nor is a copy from PostgreSQL, or into SQLite
            await #expect(throws: StoreError.self) { try await cluster.copy(into: home) }
        }
    }
}

/// A value the test's concurrent tasks update together.
private final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T>(_ body: (inout sending Value) -> sending T) -> T { value.withLock(body) }
}
