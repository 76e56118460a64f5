import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

/// Which files tainted runs wrote, and the commands of tainted runs under way.
struct ProvenanceTests {
    @Test(arguments: StoreEngine.allCases)
    func whatATaintedCommandMayBeWritingIsUntrustedUntilItEndsAndThenWhatItWroteStays(
        engine: StoreEngine
    )
        async throws
    {
        try await engine.withStore { (store: Store) async throws -> Void in
            let provenance = store.provenance
            let session = try await store.sessions.create(agent: "default", title: "t", actor: .user("test"))
            #expect(try await !provenance.holdsTaintedContent("/ws/notes.txt"))
            // Given a tainted command under way in /ws
            let id = try await provenance.beginTaintedCommand(
                directories: ["/ws"],
                since: Date(),
                session: session.id,
                agent: "default"
            )
            // Then anything it may be changing reads as untrusted, a folder above it too, a folder beside it not
            #expect(try await provenance.holdsTaintedContent("/ws/notes.txt"))
            #expect(try await provenance.holdsTaintedContent("/ws"))
            #expect(try await provenance.holdsTaintedContent("/"))
            #expect(try await !provenance.holdsTaintedContent("/wsx/notes.txt"))
            #expect(try await provenance.unfinishedTaintedCommands().map(\.id) == [id])
            // When it ends having changed plan.txt
            try await provenance.endTaintedCommand(id, changed: ["/ws/plan.txt"])
            // Then only what it changed stays untrusted, on record with its event, and the command is off record
            #expect(try await provenance.holdsTaintedContent("/ws/plan.txt"))
            #expect(try await !provenance.holdsTaintedContent("/ws/notes.txt"))
            #expect(try await provenance.unfinishedTaintedCommands().isEmpty)
            let events = try await store.ledger.events(filter: EventFilter(type: "file.tainted"))
            #expect(events.map { $0.payload["path"] } == ["/ws/plan.txt"])
            #expect(events.first?.session == session.id)
        }
    }
}
