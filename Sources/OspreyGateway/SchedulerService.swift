import Logging
import OspreyScheduler
public import ServiceLifecycle

/// Cron, `@every`, `@at` and event-triggered schedules as a service, until graceful shutdown.
public struct SchedulerService: Service {
    let scheduler: Scheduler
    let logger: Logger

    public func run() async throws {
        await withLogger(logger) { _ in
            await cancelWhenGracefulShutdown { await scheduler.run() }
        }
    }
}
