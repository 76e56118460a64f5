import Logging
import OspreyMCP
import ServiceLifecycle

/// The MCP servers of `[[mcp_servers]]` as a service: they run until graceful shutdown, then are stopped (stdin
/// closed, then their process groups ended), as ``LocalModelService`` stops the local model.
struct MCPService: Service {
    let servers: MCPServers
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(3600)) } catch { break }
            }
        }
        await servers.stop()
        logger.info("MCP servers stopped")
    }
}
