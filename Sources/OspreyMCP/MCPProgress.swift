public import OspreyCore
import Synchronization

/// How a request reports progress to the host: a no-op unless the request named a `progressToken`. The progress
/// number rises by one with each report, as the specification asks it to rise.
public final class MCPProgress: Sendable {
    private let token: JSONValue?
    private let send: @Sendable (JSONValue) -> Void
    private let count = Mutex(0)

    public init(token: JSONValue?, send: @escaping @Sendable (JSONValue) -> Void) {
        self.token = token.flatMap { $0.stringValue != nil || $0.intValue != nil ? $0 : nil }
        self.send = send
    }

    /// A reporter that says nothing.
    public static let silent = MCPProgress(token: nil, send: { _ in })

    public var isActive: Bool { token != nil }

    /// Reports one more step, with what is happening.
    public func tick(_ message: String) {
        guard let token else { return }
        let progress = count.withLock { count in
            count += 1
            return count
        }
        send([
            "jsonrpc": "2.0", "method": "notifications/progress",
            "params": ["progressToken": token, "progress": .int(progress), "message": .string(message)],
        ])
    }
}

/// A resource URI the server does not have (JSON-RPC error -32002).
public struct MCPResourceNotFound: Error, Sendable, CustomStringConvertible {
    public var uri: String
    public init(uri: String) { self.uri = uri }
    public var description: String { "not found: \(uri)" }
}

/// Parameters the server refuses (JSON-RPC error -32602).
public struct MCPInvalidParams: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
