import Logging
import OspreyCore
import OspreyStore

/// The agents whose daily budget is spent: their queued tasks wait until the budget is resumed.
extension Supervisor {
    /// Holds the queued tasks of the agents whose budget is paused, from the store's state and then each
    /// `budget.paused` and `budget.resumed`, until cancelled.
    func followBudgets(after mark: Int?) async {
        let logger = Logger.current
        var after = mark
        while !Task.isCancelled {
            do {
                if after == nil { after = try await pausedBudgets() }
                try await store.ledger.follow(after: after ?? 0, filter: EventFilter(type: "budget.*")) { event in
                    after = event.seq
                    guard let agent = event.payload["agent"]?.stringValue else { return }
                    if event.type == .budgetPaused { self.hold(agent) }
                    if event.type == .budgetResumed { self.release(agent) }
                }
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.error("budget events could not be followed", metadata: ["error": "\(error)"])
                try? await sleep(.seconds(1))
            }
        }
    }

    /// Holds the agents whose budget the store says is paused; the ledger's seq it read them at.
    func pausedBudgets() async throws -> Int {
        let high = try await store.ledger.lastSeq()
        for (agent, state) in try await store.budgets.all() where state.pausedDay != nil { hold(agent) }
        return high
    }

    /// ``pausedBudgets()``, or nil (logged) when the store cannot say: the follower then tries again.
    func loadPausedBudgets() async -> Int? {
        do {
            return try await pausedBudgets()
        } catch {
            Logger.current.error("paused budgets could not be read", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The agent's budget is spent: its queued tasks wait, and so will those queued later (running ones go on;
    /// the meter refuses their next model call).
    func hold(_ agent: String) {
        guard paused.insert(agent).inserted else { return }
        held += queue.removeAll { $0.task.agent == agent }
    }

    /// The agent's budget is back: its held tasks are queued again, in their order.
    func release(_ agent: String) {
        guard paused.remove(agent) != nil else { return }
        let back = held.filter { $0.task.agent == agent }
        held.removeAll { $0.task.agent == agent }
        for entry in back { queue.push(entry, provider: provider(entry.task)) }
        dispatch()
    }

    /// The tasks held for a paused budget, by agent.
    public var holding: [String: Int] { Dictionary(held.map { ($0.task.agent, 1) }, uniquingKeysWith: +) }
}
