import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

@testable import OspreyAgent

#if canImport(Glibc)
import Glibc
#endif

/// Model calls made and paid for while the store refused their record (a full disk): kept, as they are owed, in room
/// taken on the disk at start-up, owed again at the next start, recorded once.
struct OwedChargesTests {
    static func charge(_ n: Int) -> Spending.Charge {
        Spending.Charge(
            agent: "default",
            tokens: 100 + n,
            costUSD: 0.25,
            event: EventDraft(
                type: .llmCall,
                actor: .agent("default"),
                session: Session.ID("ses_owed"),
                payload: ["n": .int(n), "outcome": "ok"]
            )
        )
    }

    @Test func callsOwedAtAStopAreRecordedOnceAfterTheNextStart() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-owed")
        defer { directory.remove() }
        let database = directory.url.appendingPathComponent("osprey.db").path
        let key = [UInt8](repeating: 7, count: 32)
        let reserve = try ReservedFile.open(
            directory.url.appendingPathComponent("owed-charges").path,
            capacity: 1 << 20
        )
        _ = try Store.open(path: database, ledgerKey: key)
        // A gateway whose store refuses writes (read-only here, a full disk in life) owes two calls at its stop
        let refusing = try Store.open(path: database, ledgerKey: key, readOnly: true)
        let before = Meter(store: refusing, reserve: reserve) { _ in nil }
        before.owe(Self.charge(1))
        before.owe(Self.charge(2))
        // kept at once, so a gateway killed before its stop loses none of them
        #expect(try Meter(store: refusing, reserve: reserve) { _ in nil }.loadOwed() == 2)
        #expect(try await before.keepOwed() == 2)
        // The next start owes them again and records them at its first settlement (before: they were lost)
        let store = try Store.open(path: database, ledgerKey: key)
        let after = Meter(store: store, reserve: reserve) { _ in nil }
        #expect(try after.loadOwed() == 2)
        await after.settleOwed()
        #expect(try reserve.load() == nil)
        let spent = try await store.spending.today(agent: "default")
        #expect(spent.tokens == 203 && spent.costUSD == 0.5)
        let calls = try await store.ledger.events(after: 0, filter: EventFilter(type: "llm.call"), limit: 10)
        #expect(calls.map { $0.payload["n"] } == [1, 2])
        #expect(calls.allSatisfy { $0.session == Session.ID("ses_owed") && $0.actor == .agent("default") })
        // and a third start finds nothing owed: nothing is counted twice
        let third = Meter(store: store, reserve: reserve) { _ in nil }
        #expect(try third.loadOwed() == 0)
        #expect(try await third.keepOwed() == 0)
    }

    @Test func keptChargesThisHomeDidNotSealAreRefused() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-owed")
        defer { directory.remove() }
        let store = try Store.inMemory()
        let reserve = try ReservedFile.open(
            directory.url.appendingPathComponent("owed-charges").path,
            capacity: 1 << 20
        )
        let meter = Meter(store: store, reserve: reserve) { _ in nil }
        // A kept charge whose cost was changed after it was sealed
        let sealed = String(decoding: store.spending.sealed([Self.charge(1)]), as: UTF8.self)
        #expect(sealed.contains("0.25"))
        try reserve.store(Array(sealed.replacingOccurrences(of: "0.25", with: "99").utf8))
        #expect(throws: StoreError.self) { try meter.loadOwed() }
        // one sealed with another home's key
        let other = try Store.inMemory(ledgerKey: [UInt8](repeating: 9, count: 32))
        try reserve.store(other.spending.sealed([Self.charge(1)]))
        #expect(throws: StoreError.self) { try meter.loadOwed() }
        // and, sealed or not, anything but a model call (the file cannot write other events into the ledger)
        var granted = Self.charge(2)
        granted.event.type = Event.Kind(rawValue: "approval.granted")
        try reserve.store(store.spending.sealed([granted]))
        #expect(throws: StoreError.self) { try meter.loadOwed() }
        await meter.settleOwed()
        #expect(try await store.spending.today(agent: "default").tokens == 0)
        #expect(try await store.ledger.lastSeq() == 0)
    }

    @Test func aReservedFileTakesItsRoomWhenMadeAndHoldsWhatFits() throws {
        let directory = try TemporaryDirectory(prefix: "osprey-reserve")
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("reserve").path
        let file = try ReservedFile.open(path, capacity: 64 << 10)
        // The room is on the disk from the start: its blocks are allocated, not promised
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(Int(status.st_blocks) * 512 >= 16 + (64 << 10))
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(try file.load() == nil)
        let bytes = Array("kept over a stop".utf8)
        try file.store(bytes)
        #expect(try ReservedFile.open(path, capacity: 64 << 10).load() == bytes)
        #expect(throws: FileWriteError.self) { try file.store([UInt8](repeating: 1, count: (64 << 10) + 1)) }
        #expect(try file.load() == bytes)
        try file.clear()
        #expect(try file.load() == nil)
    }
}
