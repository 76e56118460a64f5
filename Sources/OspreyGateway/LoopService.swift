import Logging
public import ServiceLifecycle

/// A long-running loop as a service: runs `body` with the component's logger until graceful shutdown cancels it.
///
/// The supervisor, the scheduler and the memory indexer are each one of these (``Kernel/services(logger:)``); what
/// each does when cancelled (stop between items, leave running tasks `running` for the next start) is its own.
struct LoopService: Service {
    let logger: Logger
    let body: @Sendable () async -> Void

    func run() async throws {
        await withLogger(logger) { _ in
            await cancelWhenGracefulShutdown { await body() }
        }
    }
}
