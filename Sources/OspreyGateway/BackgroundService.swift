import OspreyCore
import OspreyMemory
import OspreyScheduler
import OspreyStore
public import ServiceLifecycle

/// The gateway's background work as one service: the task supervisor (after recovering what a crash left
/// unfinished), the scheduler, and the watcher that backs a provider off after a 429. Stops on graceful shutdown;
/// tasks still running then resume at the next start.
public struct BackgroundService: Service {
    let kernel: Kernel

    public init(kernel: Kernel) { self.kernel = kernel }

    public func run() async throws {
        try await kernel.supervisor.recover()
        let supervisor = kernel.supervisor
        let scheduler = kernel.scheduler
        let memory = kernel.memory
        let bus = kernel.store.ledger.bus
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await supervisor.run() }
                group.addTask { await scheduler.run() }
                group.addTask { await memory.run() }
                group.addTask { await memory.maintain() }
                if let witness = kernel.witness {
                    group.addTask { await witness.run(ledger: kernel.store.ledger) }
                }
                group.addTask {
                    for await event in bus.subscribe()
                    where event.type == "llm.call" && event.payload["outcome"] == "rate_limited" {
                        if let provider = event.payload["provider"]?.stringValue {
                            await supervisor.rateLimited(provider: provider)
                        }
                    }
                }
            }
        }
    }
}
