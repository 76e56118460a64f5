import Foundation
public import OspreyCore

/// What went wrong talking to an MCP server, said so the model (or the user) can act on it.
public enum MCPError: Error, Hashable, Sendable, CustomStringConvertible {
    case unavailable(String)
    case stopped(String)
    case timedOut(server: String, method: String, after: Duration)
    case exited(server: String, reason: String, stderr: String)
    case server(code: Int, message: String)
    case toolFailed(String)

    public var description: String {
        switch self {
        case .unavailable(let message): message
        case .stopped(let name): "MCP server '\(name)' is stopped"
        case .timedOut(let server, let method, let after):
            "MCP server '\(server)' did not answer \(method) within \(after)"
        case .exited(let server, let reason, let stderr):
            "MCP server '\(server)' \(reason)"
                + (stderr.isEmpty ? "" : " (stderr: \(stderr))")
        case .server(let code, let message): "MCP server error \(code): \(message)"
        case .toolFailed(let output): output
        }
    }
}

/// How a client reaches an MCP server: a child's standard streams, or Streamable HTTP.
public protocol MCPTransport: Sendable {
    /// Sends one message; false when it cannot be sent (the server does not read, the connection stopped).
    @discardableResult func send(_ message: JSONValue) -> Bool
    /// The client no longer waits for the answer to request `id` (it timed out, or its caller went away): what the
    /// transport holds open for that answer alone is let go.
    func giveUp(on id: JSONValue)
    func stop() async
    /// The server's last words on stderr (stdio only).
    var stderr: [String] { get }
    /// What the log says the transport is (`pid 4242`, a URL).
    var summary: String { get }
}

extension StdioConnection: MCPTransport {
    /// Every answer comes on the one stdout: nothing is held for a single request.
    public func giveUp(on id: JSONValue) {}
    public func stop() async { await stop(grace: .seconds(2)) }
    public var summary: String { "stdio, pid \(pid)" }
}

extension StreamableHTTPConnection: MCPTransport {
    public var stderr: [String] { [] }
    public var summary: String { "http \(url.absoluteString)" }
}
