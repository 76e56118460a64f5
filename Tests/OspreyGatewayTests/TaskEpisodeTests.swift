import Foundation
import OspreyCore
import OspreyGateway
import OspreyMemory
import OspreyStore
import OspreyTesting
import Testing

/// What a task did becomes an episode in memory, as trusted as its run's context was: an untainted run's answer is
/// the agent's own (trusted, as a memory it stores itself), a tainted run's is untrusted, and so a later run that
/// recalls it is tainted too.
struct TaskEpisodeTests {
    @Test(.timeLimit(.minutes(3))) func anEpisodeIsUntrustedOnlyWhenItsRunHadUntrustedContent() async throws {
        let provider = ScriptedProvider(messages: [
            .assistant("The harbour osprey count is twelve."),
            .assistant("The river osprey count is seven."),
        ])
        let gateway = try await TestGateway(provider: provider)
        try await TestRuns.running(gateway.kernel.supervisor) {
            // One after the other: a run that recalled the other's untrusted episode would be tainted by it.
            for draft in [
                Tasks.Draft(title: "harbour count", instructions: "Count the harbour ospreys."),
                Tasks.Draft(title: "river count", instructions: "Count the river ospreys.", tainted: true),
            ] {
                let id = try await gateway.store.tasks.submit(draft, actor: .system).id
                try await TestRuns.waitUntil { try await gateway.store.tasks.get(id).isFinished }
            }
            var episodes: [String: String] = [:]
            try await TestRuns.waitUntil {
                let stored = try await gateway.store.ledger.events(limit: 1000).filter { $0.type == .memoryStored }
                for event in stored {
                    let record = try await gateway.kernel.memory.get(event.payload["id"]?.stringValue ?? "")
                    if let title = record.title { episodes[title] = record.trust.rawValue }
                }
                return episodes.count == 2
            }
            #expect(episodes == ["Task: harbour count": "trusted", "Task: river count": "untrusted"], "\(episodes)")
        }
    }
}
