import Foundation
import GRDB
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

struct LedgerTests {
    static let key = Array(repeating: UInt8(9), count: 32)

    /// A file-backed store in a temp dir (tamper tests edit it the way an attacker with sqlite3 would).
    static func fileStore(_ directory: TemporaryDirectory, durability: Store.Durability = .normal) throws -> Store {
        try directory.store(ledgerKey: key, durability: durability)
    }

    static func seed(_ store: Store, count: Int = 10) async throws {
        for n in 1...count {
            try await store.ledger.append(
                EventDraft(type: Event.Kind(rawValue: "test.event"), actor: .system, payload: ["n": .int(n)])
            )
        }
    }

    /// Edits the database behind the ledger's back, as someone with file access would (dropping the guards first).
    static func tamper(_ store: Store, _ sql: String) async throws {
        try await store.writer.write { db in
            try db.execute(
                sql: "DROP TRIGGER IF EXISTS events_are_immutable; DROP TRIGGER IF EXISTS events_are_permanent;"
            )
            try db.execute(sql: sql)
        }
    }

    @Test func aWitnessCatchesALedgerRolledBackToAnOlderSignedHead() async throws {
        // Given a ledger whose heads were witnessed at seq 3 and seq 5
        let store = try Store.inMemory()
        try await Self.seed(store, count: 3)
        let old = try await store.writer.read { db -> [String] in
            let row = try Row.fetchOne(db, sql: "SELECT seq, hash, signature FROM ledger_head WHERE id = 1")!
            return [String(row["seq"] as Int), row["hash"], row["signature"]]
        }
        var witness = try #require(try await store.ledger.witnessLine()).line + "\n"
        try await Self.seed(store, count: 2)
        witness += try #require(try await store.ledger.witnessLine()).line + "\n"
        #expect(try await store.ledger.verify(witness: witness).ok)
        // When someone cuts the last two events and puts the older signed head back
        try await Self.tamper(store, "DELETE FROM events WHERE seq > 3")
        try await store.writer.write { db in
            try db.execute(
                sql: "UPDATE ledger_head SET seq = ?, hash = ?, signature = ? WHERE id = 1",
                arguments: [Int(old[0])!, old[1], old[2]]
            )
        }
        // Then the chain alone still verifies (the gap the witness closes), but not against the witness
        #expect(try await store.ledger.verify().ok)
        let checked = try await store.ledger.verify(witness: witness)
        #expect(!checked.ok)
        #expect(checked.firstBadSeq == 5)
        #expect(checked.reason?.contains("no longer holds") == true)
        // And a forged witness line is refused
        let forged =
            #"{"hash":"\#(String(repeating: "a", count: 64))","seq":1,"signature":"\#(String(repeating: "b", count: 64))"}"#
        #expect(try await store.ledger.verify(witness: forged).reason?.contains("not signed") == true)
    }

    @Test(arguments: StoreEngine.allCases)
    func eachEventHashesItsFieldsAndLinksToThePreviousOne(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            try await Self.seed(store, count: 3)
            let events = try await store.ledger.events()
            #expect(events.map(\.seq) == [1, 2, 3])
            #expect(events[0].prevHash == Event.genesisHash)
            #expect(events[1].prevHash == events[0].hash)
            for event in events {
                #expect(event.hash == Event.sha256Hex(event.hashedFields.canonicalJSON))
                #expect(event.id.rawValue.hasPrefix("evt_"))
            }
            let verification = try await store.ledger.verify()
            #expect(
                verification
                    == LedgerVerification(ok: true, count: 3, head: events[2].hash, firstBadSeq: nil, reason: nil)
            )
        }
    }

    @Test func anEmptyLedgerVerifies() async throws {
        let verification = try await Store.inMemory().ledger.verify()
        #expect(verification.ok && verification.count == 0 && verification.head == Event.genesisHash)
    }

    @Test func theDatabaseRefusesUpdatesAndDeletesOfEvents() async throws {
        let store = try Store.inMemory()
        try await Self.seed(store, count: 2)
        await #expect(throws: DatabaseError.self) {
            try await store.writer.write { db in try db.execute(sql: "UPDATE events SET payload = '{}' WHERE seq = 1") }
        }
        await #expect(throws: DatabaseError.self) {
            try await store.writer.write { db in try db.execute(sql: "DELETE FROM events WHERE seq = 2") }
        }
        #expect(try await store.ledger.verify().ok)
    }

    @Test(arguments: [
        ("edited payload", "UPDATE events SET payload = '{\"n\":99}' WHERE seq = 4", 4),
        (
            "edited payload with recomputed hash",
            "UPDATE events SET payload = '{\"n\":99}', hash = 'f' || substr(hash, 2) WHERE seq = 4", 4
        ),
        ("edited type", "UPDATE events SET type = 'test.other' WHERE seq = 6", 6),
        ("deleted row", "DELETE FROM events WHERE seq = 5", 5),
        (
            "swapped rows",
            "UPDATE events SET seq = -1 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = 7; UPDATE events SET seq = 7 WHERE seq = -1",
            3
        ),
        ("truncated tail", "DELETE FROM events WHERE seq > 8", 9),
        ("truncated tail and re-pointed head", "DELETE FROM events WHERE seq > 8; UPDATE ledger_head SET seq = 8", 8),
        ("deleted head record", "DELETE FROM ledger_head", 1),
        (
            "forged appended event",
            "INSERT INTO events SELECT 11, 'evt_forged', ts, type, actor, session, task, payload, hash, hash FROM events WHERE seq = 10",
            11
        ),
    ])
    func tamperingIsDetectedAtTheFirstBadSeq(name: String, sql: String, firstBad: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.fileStore(directory)
        try await Self.seed(store, count: 10)
        #expect(try await store.ledger.verify().ok)
        try await Self.tamper(store, sql)
        let verification = try await store.ledger.verify()
        #expect(!verification.ok, "\(name) went unnoticed")
        #expect(verification.firstBadSeq == firstBad, "\(name): \(verification.reason ?? "")")
    }

    @Test func aHeadSignedWithAnotherKeyIsRejected() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.seed(try Self.fileStore(directory), count: 3)
        let other = try Store.open(
            path: directory.url.appendingPathComponent("osprey.db").path,
            ledgerKey: Array(repeating: 1, count: 32)
        )
        let verification = try await other.ledger.verify()
        #expect(!verification.ok)
        #expect(verification.reason?.contains("signature") == true)
    }

    @Test func eightConcurrentWritersKeepOneUnbrokenChain() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.fileStore(directory)
        // Given eight writers appending 1,000 events each at the same time
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for n in 0..<1000 {
                        try await store.ledger.append(
                            EventDraft(
                                type: Event.Kind(rawValue: "test.concurrent"),
                                actor: .agent("\(writer)"),
                                payload: ["n": .int(n)]
                            )
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        // Then the chain has 8,000 events, seqs 1...8000 with no gap, and verifies
        let verification = try await store.ledger.verify()
        #expect(verification.ok)
        #expect(verification.count == 8000)
        let seqs = try await store.writer.read { db in try Int.fetchAll(db, sql: "SELECT seq FROM events ORDER BY seq")
        }
        #expect(seqs == Array(1...8000))
        // And each writer's own events are in its own order
        // Sendable pairs, not `Row`s, so the async read is the one chosen.
        let perWriter = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT actor, payload FROM events ORDER BY seq").map {
                ($0["actor"] as String, $0["payload"] as String)
            }
        }
        var last: [String: Int] = [:]
        for (actor, payload) in perWriter {
            let n = try JSONValue.parse(payload)["n"]?.intValue ?? -1
            #expect(n == (last[actor] ?? -1) + 1)
            last[actor] = n
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func aRolledBackTransactionLeavesNoEventAndTellsNoSubscriber(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            let stream = store.ledger.bus.subscribe()
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await store.transaction { db in
                    _ = try store.ledger.append([EventDraft(type: Event.Kind(rawValue: "test.rolledback"))], in: db)
                    throw Abort()
                }
            }
            try await store.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.committed")))
            var iterator = stream.makeAsyncIterator()
            let first = await iterator.next()
            #expect(first?.type == Event.Kind(rawValue: "test.committed"))
            #expect(first?.seq == 1)
            #expect(try await store.ledger.verify().ok)
        }
    }

    @Test func followReplaysThenStreamsLiveWithNoGapAndNoDuplicate() async throws {
        // A tiny bus buffer forces the follower to refill gaps from the database.
        let store = try Store.inMemory(bus: EventBus(bufferSize: 2))
        try await Self.seed(store, count: 20)
        let received = try await withThrowingTaskGroup(of: [Int].self) { group in
            group.addTask {
                var seqs: [Int] = []
                try? await store.ledger.follow(after: 5) { event in
                    seqs.append(event.seq)
                    if seqs.count == 5 { try await Task.sleep(for: .milliseconds(50)) }  // a slow consumer
                    if event.seq == 120 { throw CancellationError() }
                }
                return seqs
            }
            for n in 21...120 {
                try await store.ledger.append(
                    EventDraft(type: Event.Kind(rawValue: "test.live"), payload: ["n": .int(n)])
                )
            }
            return try await group.next()!
        }
        #expect(received == Array(6...120))
    }

    @Test(arguments: StoreEngine.allCases)
    func followAppliesTheFilterToReplayAndLiveEvents(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            try await store.ledger.append(EventDraft(type: .sessionCreated, session: Session.ID("s1")))
            try await store.ledger.append(EventDraft(type: .authFailed))
            try await store.ledger.append(EventDraft(type: .sessionDeleted, session: Session.ID("s1")))
            let types = try await withThrowingTaskGroup(of: [String].self) { group in
                group.addTask {
                    var types: [String] = []
                    try? await store.ledger.follow(after: 0, filter: EventFilter(type: "session.*")) { event in
                        types.append(event.type.rawValue)
                        if types.count == 4 { throw CancellationError() }
                    }
                    return types
                }
                try await Task.sleep(for: .milliseconds(50))
                try await store.ledger.append(EventDraft(type: .messageUser, session: Session.ID("s1")))
                try await store.ledger.append(EventDraft(type: .sessionCreated, session: Session.ID("s2")))
                try await store.ledger.append(EventDraft(type: .sessionDeleted, session: Session.ID("s2")))
                return try await group.next()!
            }
            #expect(types == ["session.created", "session.deleted", "session.created", "session.deleted"])
        }
    }

    @Test func anExportIsReverifiedByAnIndependentScript() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.fileStore(directory)
        try await store.ledger.append(
            EventDraft(
                type: Event.Kind(rawValue: "test.unicode"),
                payload: ["text": "é😀 \"quoted\"\n\u{1}", "cost": 0.000123, "big": 1e20, "n": 3]
            )
        )
        try await Self.seed(store, count: 5)
        var lines: [String] = []
        let count = try await store.ledger.export { lines.append($0) }
        #expect(count == 6)
        let file = directory.url.appendingPathComponent("export.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let good = try await LedgerVerifier.run(file)
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.hasPrefix("ok 6 "))
        // An edited line fails the same script.
        lines[3] = lines[3].replacingOccurrences(of: #""n":3"#, with: #""n":4"#)
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let bad = try await LedgerVerifier.run(file)
        #expect(bad.status == 1)
        #expect(bad.output.contains("BROKEN at seq 4"))
    }

    @Test func aNewDatabaseIsMigratedAndThenCommitsAtFullDurability() async throws {
        // Given a new database file, opened at FULL (its migrations commit before FULL is set)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("osprey.db").path
        let store = try Self.fileStore(directory, durability: .full)

        // Then the writer commits at FULL, the schema is there, and an append survives reopening
        #expect(try await store.writerSynchronous() == 2)
        try await Self.seed(store, count: 2)
        let reopened = try Store.open(path: path, ledgerKey: Self.key, durability: .full)
        #expect(try await reopened.writerSynchronous() == 2)
        let verification = try await reopened.ledger.verify()
        #expect(verification.ok && verification.count == 2)
    }
}
