import Foundation
import GRDB
import OspreyCore
import OspreyTesting
import Testing

@testable import OspreyStore

/// Writers that wait for the database at the same time share one commit, and each still stands alone: one body's
/// failure takes only its own writes and events with it.
///
/// Serialized: two tests each holding the writer would each block one of the pool's threads (the writer's turn runs
/// on one), and on two cores their writers would have none left to queue from.
@Suite(.serialized) struct GroupCommitTests {
    struct Abort: Error {}

    static func draft(_ writer: Int) -> EventDraft {
        EventDraft(
            type: Event.Kind(rawValue: "test.grouped"),
            actor: .agent("w\(writer)"),
            payload: ["n": .int(writer)]
        )
    }

    /// A first transaction that holds the writer (its turn blocks a thread) until `writers` others wait behind it
    /// (30 s at most), then appends writer 0's event; returned once it holds the writer.
    static func holdWriter(of store: Store, until writers: Int) async throws -> Task<Int, any Error> {
        let holding = Collected()
        let first = Task {
            try await store.transaction { db in
                holding.append(true)
                let deadline = Date().addingTimeInterval(30)
                while store.writesWaiting < writers && Date() < deadline { usleep(1_000) }
                return try store.ledger.append([Self.draft(0)], in: db).count
            }
        }
        while holding.frames.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        return first
    }

    @Test(.timeLimit(.minutes(3))) func writersWaitingTogetherShareOneCommitAndAFailingOneTakesOnlyItsOwnWrites()
        async throws
    {
        // Given a durable file store, a subscriber, and a first transaction that holds the writer until 32 others
        // wait behind it (writer 7 of them fails after appending its event)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LedgerTests.fileStore(directory, durability: .full)
        let stream = store.ledger.bus.subscribe()
        let before = store.commitStatistics
        let first = try await Self.holdWriter(of: store, until: 32)
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for writer in 1...32 {
                group.addTask {
                    do {
                        _ = try await store.transaction { db in
                            _ = try store.ledger.append([Self.draft(writer)], in: db)
                            try db.execute(
                                "INSERT INTO usage_daily (agent, day, tokens) VALUES (?, '2026-12-03', 1)",
                                ["w\(writer)"]
                            )
                            if writer == 7 { throw Abort() }
                        }
                        return (writer, true)
                    } catch {
                        return (writer, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(try await first.value == 1)
        // Then every writer but 7 committed, in two groups: the first alone, the 32 others together
        #expect(outcomes.filter(\.value).count == 31)
        #expect(outcomes[7] == false)
        let after = store.commitStatistics
        #expect(after.groups - before.groups == 2)
        #expect(after.transactions - before.transactions == 32)
        // And writer 7 left neither its event nor its row, the seqs have no gap and the chain verifies
        let actors = try await store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT actor FROM events ORDER BY seq")
        }
        #expect(actors.count == 32)
        #expect(!actors.contains("agent:w7"))
        let usage = try await store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT agent FROM usage_daily")
        }
        #expect(usage.count == 31)
        #expect(!usage.contains("w7"))
        let verification = try await store.ledger.verify()
        #expect(verification.ok)
        #expect(verification.count == 32)
        // And the subscriber heard exactly the committed events, in seq order
        var heard: [Event] = []
        for await event in stream {
            heard.append(event)
            if heard.count == 32 { break }
        }
        #expect(heard.map(\.seq) == Array(1...32))
        #expect(!heard.contains { $0.actor == .agent("w7") })
    }

    @Test(.timeLimit(.minutes(3))) func aGroupSignsOneHeadAfterItsLastKeptEvent() async throws {
        // Given a writer held until three others wait behind it, queued in order, the last of which fails after
        // appending its event
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LedgerTests.fileStore(directory, durability: .full)
        let first = try await Self.holdWriter(of: store, until: 3)
        var writers: [Task<Bool, Never>] = []
        let groups = store.commitStatistics.groups
        for writer in 1...3 {
            let waiting = store.writesWaiting
            writers.append(
                Task {
                    do {
                        try await store.transaction { db in
                            _ = try store.ledger.append([Self.draft(writer)], in: db)
                            if writer == 3 { throw Abort() }
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            )
            // Queued: seen waiting, or (the last one) already let the held writer go, which then committed.
            try await TestRuns.waitUntil { store.writesWaiting > waiting || store.commitStatistics.groups > groups }
        }
        #expect(try await first.value == 1)
        var kept: [Bool] = []
        for writer in writers { kept.append(await writer.value) }
        #expect(kept == [true, true, false])
        // Then the head names the last event kept (writer 2's, seq 3), not the rolled-back one, and verifies
        #expect(try await store.ledger.witnessLine()?.seq == 3)
        #expect(try await store.ledger.verify().ok)
        // And a lone append moves it on
        try await store.ledger.append(Self.draft(4))
        #expect(try await store.ledger.witnessLine()?.seq == 4)
        #expect(try await store.ledger.verify().ok)
    }

    @Test(.timeLimit(.minutes(2))) func aWriteTheDiskOrAnotherProcessRefusesSaysSoAndRecordsNothing() async throws {
        let folder = try TemporaryDirectory(prefix: "osprey-refused")
        defer { folder.remove() }
        let path = folder.url.appendingPathComponent("osprey.db").path
        let store = try Store.open(path: path, ledgerKey: Array(repeating: 1, count: 32))
        try await store.ledger.append(Self.draft(0))
        // Another process's connection (a sqlite3 shell left in a transaction) holds the write lock past the busy
        // timeout (10 s): the write fails as the store's own "unavailable" (a 503 at the doors), nothing recorded.
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        other.arguments = [
            "python3", "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE');"
                + " print('held', flush=True); sys.stdin.read()",
            path,
        ]
        let input = Pipe()
        let output = Pipe()
        other.standardInput = input
        other.standardOutput = output
        try other.run()
        defer { other.killGroupAndWait() }
        // (read as it comes: python answers in a fraction of a second)
        let said = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        #expect(said.trimmingCharacters(in: .whitespacesAndNewlines) == "held")
        do {
            try await store.ledger.append(Self.draft(1))
            Issue.record("a write while another process holds the lock must fail")
        } catch let error as StoreError {
            #expect(error.isUnavailable && "\(error)".contains("held by another process"), "\(error)")
        }
        try input.fileHandleForWriting.close()  // the other process ends, its lock with it
        other.waitUntilExit()
        // A database that cannot grow (as on a full disk, SQLite's "database or disk is full"): the same, in words
        // that say so.
        let pages = try await store.transaction { db in try db.value(Int.self, "PRAGMA page_count") ?? 0 }
        _ = try await store.transaction { db in try db.execute("PRAGMA max_page_count = \(pages)") }
        do {
            try await store.ledger.append(
                EventDraft(
                    type: Event.Kind(rawValue: "test.grouped"),
                    actor: .agent("w3"),
                    payload: ["n": 3, "blob": .string(String(repeating: "x", count: 1 << 20))]
                )
            )
            Issue.record("a write the database cannot hold must fail")
        } catch let error as StoreError {
            #expect(error.isUnavailable && "\(error)".contains("the home's disk is full"), "\(error)")
        }
        _ = try await store.transaction { db in try db.execute("PRAGMA max_page_count = 1073741823") }
        // Once the lock is gone and there is room, writes go on; the refused ones left nothing.
        try await store.ledger.append(Self.draft(2))
        #expect(try await store.ledger.events().map { $0.payload["n"] } == [0, 2])
        #expect(try await store.ledger.verify().ok)
    }

    @Test func aLoneFailingTransactionRollsBackAndTheNextOneCommits() async throws {
        let store = try Store.inMemory()
        await #expect(throws: Abort.self) {
            try await store.transaction { db in
                _ = try store.ledger.append([Self.draft(1)], in: db)
                throw Abort()
            }
        }
        try await store.ledger.append(Self.draft(2))
        let events = try await store.ledger.events()
        #expect(events.map(\.seq) == [1])
        #expect(events.first?.actor == .agent("w2"))
        #expect(try await store.ledger.verify().ok)
    }

    @Test(.timeLimit(.minutes(3))) func aLoneWriterCommitsItsOwnGroupAndManyAtOnceAreAllCommitted() async throws {
        let store = try Store.inMemory()
        // Given writers one after another: each finds nobody writing and commits a group of its own
        for writer in 1...50 { _ = try await store.ledger.append(Self.draft(writer)) }
        #expect(store.commitStatistics.groups == 50 && store.commitStatistics.transactions == 50)
        #expect(store.writesWaiting == 0)

        // When 300 write at once (the first commits on its own thread, the rest in the groups a task commits after)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 51...350 {
                group.addTask { _ = try await store.ledger.append(Self.draft(writer)) }
            }
            try await group.waitForAll()
        }

        // Then every write committed exactly once (how many groups they took depends on timing), nothing is left
        // waiting, and the chain holds
        #expect(store.commitStatistics.transactions == 350)
        #expect(store.writesWaiting == 0)
        let events = try await store.ledger.events(filter: EventFilter(type: "test.grouped"), limit: 1_000)
        #expect(Set(events.compactMap { $0.payload["n"]?.intValue }) == Set(1...350))
        #expect(try await store.ledger.verify().ok)
        // And a writer after them starts a turn again
        _ = try await store.ledger.append(Self.draft(351))
        #expect(store.commitStatistics.transactions == 351)
    }

    @Test(.timeLimit(.minutes(3))) func aBoundedReadOnTheIdleWriterHoldsWritersOnlyUntilItEnds() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store.open(
            path: directory.url.appendingPathComponent("osprey.db").path,
            ledgerKey: Array(repeating: 7, count: 32)
        )
        try await store.ledger.append(Self.draft(1))
        // Given a bounded read that, reading on the idle writer's connection, waits (5 s at most) for a writer to
        // queue behind it
        let holding = Collected()
        let read = Task {
            try await store.commits.readBounded { db in
                holding.append(true)
                let deadline = Date().addingTimeInterval(5)
                while store.writesWaiting < 1 && Date() < deadline { usleep(1_000) }
                return try db.value(Int.self, "SELECT count(*) FROM events") ?? -1
            }
        }
        while holding.frames.isEmpty { try await Task.sleep(for: .milliseconds(1)) }

        // When a writer comes while it reads
        let write = Task { try await store.ledger.append(Self.draft(2)) }

        // Then the writer waits for the read (which does not see its event), and commits once the read ends
        #expect(try await read.value == 1)
        #expect(try await write.value.seq == 2)
        #expect(store.writesWaiting == 0)
        #expect(try await store.ledger.verify().ok)
        // And the writer is free again for the next writer and the next read
        try await store.ledger.append(Self.draft(3))
        let count = try await store.commits.readBounded { db in try db.value(Int.self, "SELECT count(*) FROM events") }
        #expect(count == 3)
    }
}
