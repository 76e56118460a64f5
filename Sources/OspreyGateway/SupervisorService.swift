import Logging
import OspreyScheduler
public import ServiceLifecycle

/// The task supervisor as a service: recovers what a crash left running, then runs the tasks the store commits
/// until graceful shutdown. Tasks still running then stay `running` in the store and resume at the next start.
public struct SupervisorService: Service {
    let supervisor: Supervisor
    let logger: Logger

    public func run() async throws {
        await withLogger(logger) { _ in
            await cancelWhenGracefulShutdown { await supervisor.run() }
        }
    }
}
