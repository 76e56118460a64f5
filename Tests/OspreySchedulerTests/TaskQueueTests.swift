import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

@testable import OspreyScheduler

/// The supervisor's heap-per-provider queue picks what a scan of the whole queue would pick.
struct TaskQueueTests {
    @Test func itPicksWhatAScanOfTheWholeQueueWouldPick() async throws {
        let store = try Store.inMemory()
        var generator = SeededGenerator(seed: 12)
        var tasks: [TaskRecord] = []
        for index in 0..<60 {
            tasks.append(
                try await store.tasks.submit(
                    Tasks.Draft(
                        title: "t\(index)",
                        instructions: "work",
                        priority: Int.random(in: 0...3, using: &generator)
                    ),
                    actor: .user("test")
                )
            )
        }
        let providers = ["alpha", "beta", "gamma"]
        var queue = TaskQueue()
        var scanned: [(entry: Supervisor.Entry, provider: String)] = []
        var sequence = 0
        var picked = 0
        for step in 0..<400 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                // Queue a task (sometimes one already queued: it moves to the back of its priority).
                let task = tasks[Int.random(in: 0..<tasks.count, using: &generator)]
                sequence += 1
                let provider = providers[Int.random(in: 0..<providers.count, using: &generator)]
                scanned.removeAll { $0.entry.task.id == task.id }
                scanned.append((Supervisor.Entry(task: task, resume: false, sequence: sequence), provider))
                queue.push(Supervisor.Entry(task: task, resume: false, sequence: sequence), provider: provider)
            case 5:
                guard let victim = scanned.randomElement(using: &generator) else { continue }
                scanned.removeAll { $0.entry.task.id == victim.entry.task.id }
                queue.remove(victim.entry.task.id)
            default:
                let blocked = providers[Int.random(in: 0..<providers.count, using: &generator)]
                let expected = scanned.filter { $0.provider != blocked }
                    .min { TaskQueue.precedes($0.entry, $1.entry) }
                let got = queue.popBest { $0 != blocked }
                #expect(got?.entry.task.id == expected?.entry.task.id, "step \(step)")
                #expect(got?.entry.sequence == expected?.entry.sequence, "step \(step)")
                #expect(got?.provider == expected?.provider, "step \(step)")
                if let expected {
                    scanned.removeAll { $0.entry.task.id == expected.entry.task.id }
                    picked += 1
                }
            }
            #expect(queue.count == scanned.count)
            #expect(scanned.allSatisfy { queue.contains($0.entry.task.id) })
        }
        #expect(picked > 50, "the walk picked \(picked) tasks")
    }
}
