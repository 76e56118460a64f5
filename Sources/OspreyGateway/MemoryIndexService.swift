import Logging
import OspreyMemory
public import ServiceLifecycle

/// Keeps the memory index in step: embeds memories as they are stored, picks up hand edits, consolidates daily.
/// Stops between items on graceful shutdown.
public struct MemoryIndexService: Service {
    let memory: MemoryBank
    let logger: Logger

    public func run() async throws {
        await withLogger(logger) { _ in
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { group in
                    group.addTask { await memory.run() }
                    group.addTask { await memory.maintain() }
                }
            }
        }
    }
}
