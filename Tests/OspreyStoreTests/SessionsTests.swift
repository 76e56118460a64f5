import Foundation
import GRDB
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

struct SessionsTests {
    @Test(arguments: StoreEngine.allCases)
    func createListShowAndDeleteEachRecordAnEvent(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            let session = try await store.sessions.create(agent: "default", title: "Demo", actor: .user("test"))
            #expect(try await store.sessions.get(session.id).title == "Demo")
            try await store.sessions.append(.user("Hi"), to: session.id, actor: .user("test"))
            #expect(try await store.sessions.list().map(\.messageCount) == [1])
            #expect(try await store.sessions.messages(of: session.id).map(\.message) == [.user("Hi")])
            try await store.sessions.delete(session.id, actor: .user("test"))
            await #expect(throws: StoreError.notFound(kind: "session", id: session.id.rawValue)) {
                try await store.sessions.get(session.id)
            }
            let types = try await store.ledger.events().map(\.type.rawValue)
            #expect(types == ["session.created", "message.user", "session.deleted"])
            #expect(
                try await store.ledger.events().allSatisfy { $0.session == session.id && $0.actor == .user("test") }
            )
            // Deleting a session removes its messages but never its events.
            let orphans = try await store.read { db in try db.value(Int.self, "SELECT COUNT(*) FROM messages") }
            #expect(orphans == 0)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func theLatestSummaryIsFoundAmongTheRecentMessagesOrBeforeThem(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            let session = try await store.sessions.create(agent: "default", title: nil, actor: .user("test"))
            let actor = Principal.user("test")
            func latest() async throws -> String? {
                try await store.sessions.latestMessage(of: session.id, role: .system, startingWith: "[summary")?
                    .message.text
            }
            // The summary and what follows it, as a run reads them (in one read, or in several when they are long)
            func tail() async throws -> (summary: String?, after: [String]) {
                let (summary, messages) = try await store.sessions.transcriptTail(
                    of: session.id,
                    summaryRole: .system,
                    startingWith: "[summary"
                ) { $0?.seq ?? 0 }
                return (summary?.message.text, messages.map(\.message.text))
            }
            #expect(try await latest() == nil)
            #expect(try await tail() == (nil, []))
            for message in [Message.user("a"), .system("[summary 1]"), .assistant("b"), .system("a note")] {
                try await store.sessions.append(message, to: session.id, actor: actor)
            }
            // A later system message that is not a summary is passed over
            #expect(try await latest() == "[summary 1]")
            #expect(try await tail() == ("[summary 1]", ["b", "a note"]))
            try await store.sessions.append(.system("[summary 2]"), to: session.id, actor: actor)
            #expect(try await latest() == "[summary 2]")
            #expect(try await tail() == ("[summary 2]", []))
            // More messages after it than one read takes, then more than the recent ones looked through on the
            // calling thread
            for index in 0..<200 {
                try await store.sessions.append(.user("m\(index)"), to: session.id, actor: actor)
            }
            #expect(try await tail() == ("[summary 2]", (0..<200).map { "m\($0)" }))
            for index in 200...Sessions.recentScan {
                try await store.sessions.append(.user("m\(index)"), to: session.id, actor: actor)
            }
            #expect(try await latest() == "[summary 2]")
            #expect(try await tail() == ("[summary 2]", (0...Sessions.recentScan).map { "m\($0)" }))
            await #expect(throws: StoreError.notFound(kind: "session", id: "ses_missing")) {
                try await store.sessions.latestMessage(of: Session.ID("ses_missing"), role: .system, startingWith: "")
            }
            await #expect(throws: StoreError.notFound(kind: "session", id: "ses_missing")) {
                try await store.sessions.transcriptTail(
                    of: Session.ID("ses_missing"),
                    summaryRole: .system,
                    startingWith: "",
                    after: { _ in 0 }
                )
            }
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func aMessageToAnUnknownSessionLeavesNothingHalfWritten(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            await #expect(throws: StoreError.self) {
                try await store.sessions.append(.user("lost"), to: Session.ID("ses_missing"), actor: .user("test"))
            }
            #expect(try await store.ledger.lastSeq() == 0)
            let messages = try await store.read { db in try db.value(Int.self, "SELECT COUNT(*) FROM messages") }
            #expect(messages == 0)
        }
    }

    @Test(arguments: ["", "has space", String(repeating: "a", count: 65), "slash/name"])
    func badAgentNamesAreRefused(agent: String) async throws {
        let store = try Store.inMemory()
        await #expect(throws: StoreError.self) { try await store.sessions.create(agent: agent, actor: .user("test")) }
        #expect(try await store.ledger.lastSeq() == 0)
    }

    @Test(arguments: StoreEngine.allCases)
    func deletingAnUnknownSessionIsNotFound(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            await #expect(throws: StoreError.notFound(kind: "session", id: "ses_nope")) {
                try await store.sessions.delete(Session.ID("ses_nope"), actor: .user("test"))
            }
        }
    }
}
