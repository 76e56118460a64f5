import Foundation
import OspreyCore
import OspreyTesting
import Synchronization
import Testing

@testable import OspreyStore

/// Bounded reads on the calling thread never wait for a connection: the store's point reader is taken only when free,
/// and a read that finds it in use goes through the pool's queue.
struct PointReaderTests {
    @Test func aBoundedReadTakesThePointReaderWhenFreeAndThePoolWhenNot() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-point")
        defer { home.remove() }
        let store = try home.store()
        let reader = try #require(store.commits.pointReader)
        let session = try await store.sessions.create(agent: "default", title: "point", actor: .user("test"))
        // Free: it answers on this thread, with what has committed.
        #expect(try reader.read { db in try db.value(String.self, "SELECT title FROM sessions") } == "point")
        // Held by a read on another thread: it says so at once, and a bounded read goes through the pool instead.
        let (entered, release) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let holder = Thread {
            _ = try? reader.read { _ in
                entered.signal()
                release.wait()
            }
        }
        holder.start()
        entered.wait()
        #expect(try reader.read { _ in 1 } == nil)
        #expect(try await store.sessions.get(session.id).title == "point")
        #expect(try await store.sessions.messages(of: session.id).isEmpty)
        release.signal()
        // Given back: taken again.
        try await TestRuns.waitUntil { try reader.read { _ in 1 } == 1 }
        #expect(try reader.read { _ in 1 } == 1)
    }
}
