import Logging
import OspreyMCP
import ServiceLifecycle

/// The MCP servers of `[[mcp_servers]]` as a service: they run until graceful shutdown, then are stopped (stdin
/// closed, then their process groups ended), as ``LocalModelService`` stops the local model.
struct MCPService: Service {
    let servers: MCPServers
    let logger: Logger

    func run() async throws {
        await untilGracefulShutdown()
        await servers.stop()
        logger.info("MCP servers stopped")
    }
}

/// Returns when the service group shuts down gracefully (or the task is cancelled): for a service that holds
/// something open until then and has no loop of its own.
func untilGracefulShutdown() async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(3600)) } catch { break }
        }
    }
}
