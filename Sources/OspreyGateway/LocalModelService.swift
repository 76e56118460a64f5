import Logging
import OspreyCore
public import ServiceLifecycle

/// The embedded model server's lifecycle as a service: starts it with the gateway when `local_model.start` says so,
/// restarts it if it died after having been started (checked every few seconds), and stops it, with its whole
/// process group, on graceful shutdown.
public struct LocalModelService: Service {
    let server: LocalModelServer
    /// With `start = "with_gateway"`: the request whose opening to evaluate once the server runs (the default
    /// agent's first, or nil when that agent uses another model).
    var opening: (@Sendable () async throws -> ModelRequest?)?
    let logger: Logger

    public func run() async throws {
        let server = self.server
        await cancelWhenGracefulShutdown {
            // The model file is found now, so the first message does not wait for Python to say where it is.
            do {
                try await server.prepare()
            } catch {
                logger.warning("local model not found yet; it is looked for again when a message needs it: \(error)")
            }
            if let opening {
                do {
                    try await server.start(warming: try await opening())
                    logger.info("local model started with the gateway")
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning(
                        "local model did not start with the gateway; the first call to it starts it: \(error)"
                    )
                }
            }
            while !Task.isCancelled {
                await server.superviseOnce()
                do { try await Task.sleep(for: .seconds(5)) } catch { break }
            }
        }
        await server.stop()
        logger.info("local model server stopped")
    }
}
