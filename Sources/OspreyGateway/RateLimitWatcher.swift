import Logging
import OspreyCore
import OspreyScheduler
import OspreyStore
public import ServiceLifecycle

/// Backs a provider off in the supervisor as soon as a model call to it is rate limited (an `llm.call` event with
/// outcome `rate_limited`), until graceful shutdown.
public struct RateLimitWatcher: Service {
    let bus: EventBus
    let supervisor: Supervisor
    let logger: Logger

    public func run() async throws {
        let bus = self.bus
        let supervisor = self.supervisor
        let logger = self.logger
        await cancelWhenGracefulShutdown {
            for await event in bus.subscribe(where: { $0.callOutcome == .rateLimited }) {
                guard let provider = event.payload["provider"]?.stringValue else { continue }
                logger.info("provider rate limited; backing off", metadata: ["provider.name": "\(provider)"])
                await supervisor.rateLimited(provider: provider)
            }
        }
    }
}
