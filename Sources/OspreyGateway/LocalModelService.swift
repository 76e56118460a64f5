import Logging
public import ServiceLifecycle

/// The embedded model server's lifecycle as a service: restarts it if it died after having been started (checked
/// every few seconds), and stops it, with its whole process group, on graceful shutdown.
public struct LocalModelService: Service {
    let server: LocalModelServer
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
            while !Task.isCancelled {
                await server.superviseOnce()
                do { try await Task.sleep(for: .seconds(5)) } catch { break }
            }
        }
        await server.stop()
        logger.info("local model server stopped")
    }
}
