import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

/// A task's start, finish and cancel change its row only from the statuses they apply to; otherwise they say why
/// (unknown, already finished, run by another gateway) and record nothing.
struct TaskTransitionTests {
    @Test func aFinishedTaskIsNeitherStartedNorFinishedAgainAndNothingIsRecorded() async throws {
        // Given a completed task
        let store = try Store.inMemory()
        let task = try await store.tasks.submit(Tasks.Draft(title: "t", instructions: "x"), actor: .user("test"))
        _ = try await store.tasks.start(task.id)
        _ = try await store.tasks.finish(task.id, result: "done", error: nil, tokens: 2, costUSD: 0)
        let events = try await store.ledger.lastSeq()
        // When it is started, finished, failed or cancelled again
        await #expect(throws: StoreError.conflict("task \(task.id.rawValue) is completed")) {
            try await store.tasks.start(task.id)
        }
        await #expect(throws: StoreError.conflict("task \(task.id.rawValue) is already completed")) {
            try await store.tasks.finish(task.id, result: "again", error: nil, tokens: 5, costUSD: 1)
        }
        await #expect(throws: StoreError.conflict("task \(task.id.rawValue) is already completed")) {
            try await store.tasks.finish(task.id, result: nil, error: "late", tokens: 0, costUSD: 0)
        }
        await #expect(throws: StoreError.conflict("task \(task.id.rawValue) is already completed")) {
            try await store.tasks.cancel(task.id, actor: .user("test"))
        }
        // Then its row and the ledger are as they were
        let stored = try await store.tasks.get(task.id)
        #expect(stored.status == .completed && stored.result == "done" && stored.tokens == 2 && stored.attempts == 1)
        #expect(try await store.ledger.lastSeq() == events)
    }

    @Test func anUnknownTaskIsNotFoundForEveryChange() async throws {
        let store = try Store.inMemory()
        let unknown = TaskRecord.ID("tsk_unknown")
        let notFound = StoreError.notFound(kind: "task", id: "tsk_unknown")
        await #expect(throws: notFound) { try await store.tasks.start(unknown) }
        await #expect(throws: notFound) {
            try await store.tasks.finish(unknown, result: "x", error: nil, tokens: 0, costUSD: 0)
        }
        await #expect(throws: notFound) { try await store.tasks.cancel(unknown, actor: .user("test")) }
        #expect(try await store.ledger.lastSeq() == 0)
    }

    @Test func aQueuedTaskCanFinishAndARunningOneStartsAgainOnTheSameGateway() async throws {
        // Given a queued task and a running one
        let store = try Store.inMemory()
        let queued = try await store.tasks.submit(Tasks.Draft(title: "q", instructions: "x"), actor: .user("test"))
        let running = try await store.tasks.submit(Tasks.Draft(title: "r", instructions: "x"), actor: .user("test"))
        _ = try await store.tasks.start(running.id)
        // When the queued one fails before it starts, and the running one is started again (a resume)
        let failed = try await store.tasks.finish(queued.id, result: nil, error: "refused", tokens: 0, costUSD: 0)
        let resumed = try await store.tasks.start(running.id)
        // Then the first failed with its error and the second is on its second attempt
        #expect(failed.status == .failed && failed.error == "refused" && failed.attempts == 0)
        #expect(resumed.status == .running && resumed.attempts == 2)
    }
}
