import Foundation
import GRDB
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

struct ChannelStoreTests {
    func request(
        _ store: Store,
        sender: String,
        code: String,
        now: Date = Date(),
        lifetime: TimeInterval = 600
    )
        async throws -> Channels.PairingRequest
    {
        try await store.channels.requestPairing(
            channel: "tg",
            sender: sender,
            display: "Ann",
            chat: sender,
            code: code,
            lifetime: lifetime,
            now: now
        )
    }

    @Test(arguments: StoreEngine.allCases)
    func aCodeIsSingleUseAndOnlyItsDigestIsKept(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            #expect(try await request(store, sender: "1", code: "ABCD2345") == .issued)
            #expect(try await request(store, sender: "1", code: "ZZZZ2345") == .pending)
            let (sender, chat) = try await store.channels.pair(code: "abcd2345", approver: true, by: .user("admin"))
            #expect(sender.sender == "1" && sender.approver && chat == "1")
            await #expect(throws: StoreError.self) {
                try await store.channels.pair(code: "ABCD2345", approver: false, by: .user("admin"))
            }
            let rows = try await store.read { db in try db.values(String.self, "SELECT digest FROM channel_pairings") }
            #expect(rows == [Event.sha256Hex("ABCD2345")])
            let events = try await store.ledger.events(filter: EventFilter(type: "channel.*"))
            #expect(events.map(\.type.rawValue) == ["channel.pairing_requested", "channel.paired"])
            #expect(!events.contains { $0.payload.canonicalJSON.contains("ABCD2345") })
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func anExpiredCodePairsNobodyAndTheSenderMayAskAgain(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            let then = Date().addingTimeInterval(-3600)
            #expect(try await request(store, sender: "2", code: "OLDC0DE2", now: then) == .issued)
            await #expect(throws: StoreError.self) {
                try await store.channels.pair(code: "OLDC0DE2", approver: false, by: .user("admin"))
            }
            #expect(try await store.channels.pending(of: "tg").isEmpty)
            #expect(try await request(store, sender: "2", code: "NEWC0DE2") == .issued)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func pendingCodesAreCappedPerChannel(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            for n in 0..<Channels.maxPending {
                #expect(try await request(store, sender: "s\(n)", code: "CODE\(n)") == .issued)
            }
            #expect(try await request(store, sender: "one-more", code: "CODEXX") == .full)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func revokingTakesASenderOffAndPairingAgainPutsThemBack(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            _ = try await request(store, sender: "3", code: "PAIR3333")
            _ = try await store.channels.pair(code: "PAIR3333", approver: false, by: .user("admin"))
            let revoked = try await store.channels.revoke("3", of: "tg", by: .user("admin"))
            #expect(revoked.revokedAt != nil)
            await #expect(throws: StoreError.self) {
                try await store.channels.revoke("3", of: "tg", by: .user("admin"))
            }
            _ = try await request(store, sender: "3", code: "PAIR4444")
            let again = try await store.channels.pair(code: "PAIR4444", approver: false, by: .user("admin"))
            #expect(again.sender.revokedAt == nil)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func theCursorMovesWithWhatWasReceivedInOneTransaction(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            #expect(try await store.channels.cursor(of: "tg") == nil)
            try await store.channels.received(
                [EventDraft(type: .channelReceived, payload: ["channel": "tg", "outcome": "accepted"])],
                channel: "tg",
                cursor: "17"
            )
            #expect(try await store.channels.cursor(of: "tg") == "17")
            #expect(try await store.ledger.events(filter: EventFilter(type: "channel.received")).count == 1)
        }
    }
}
