import OspreyCore
import Synchronization

/// Requests to the server: sent with an id, answered by the reader thread, failed by a deadline, a cancellation or
/// the server's exit.
extension MCPClient {
    /// Sends a request and waits for its answer, the deadline, or the caller's cancellation.
    func request(
        _ method: String,
        timeout: Duration? = nil,
        params: JSONValue,
        progress: (@Sendable (String) -> Void)? = nil
    ) async throws -> JSONValue {
        let (id, connection, exit) = state.withLock { state in
            defer { state.nextID += 1 }
            if let progress { state.progress[state.nextID] = progress }
            return (state.nextID, state.connection, state.exit)
        }
        defer { if progress != nil { _ = state.withLock { $0.progress.removeValue(forKey: id) } } }
        var params = params
        if progress != nil, var object = params.objectValue {
            object["_meta"] = ["progressToken": .int(id)]
            params = .object(object)
        }
        guard let connection else {
            // A server that ended between its start and this request: how it ended says more than "not running".
            throw exit ?? MCPError.unavailable("MCP server '\(configuration.name)' is not running")
        }
        let timeout = timeout ?? configuration.timeout
        let name = configuration.name
        arm(id, Deadline(at: .now.advanced(by: timeout), method: method, timeout: timeout))
        defer { _ = state.withLock { $0.deadlines.removeValue(forKey: id) } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JSONValue, any Error>) in
                let early = state.withLock { state in
                    if state.cancelledEarly.remove(id) != nil { return true }
                    state.pending[id] = continuation
                    return false
                }
                if early { return continuation.resume(throwing: CancellationError()) }
                let message: JSONValue = [
                    "jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params,
                ]
                if !connection.send(message) {
                    // A server that has closed its input is usually on its way out: its exit, with its last words,
                    // is the better answer, and ``exited(_:)`` gives it if it comes within the grace.
                    Task { [weak self] in
                        try? await Task.sleep(for: Self.exitGrace)
                        self?.abandon(
                            id,
                            MCPError.unavailable("MCP server '\(name)' does not read its input"),
                            tellServer: nil
                        )
                    }
                }
            }
        } onCancel: {
            let registered = state.withLock { state in
                if state.pending[id] == nil { state.cancelledEarly.insert(id) }
                return state.pending[id] != nil
            }
            if registered { abandon(id, CancellationError(), tellServer: "cancelled by the caller") }
        }
    }

    /// How long a request the server would not take waits for the server's exit before failing on its own: the
    /// connection gives the exit reason once the server's stderr is read, up to a second after its stdout closes.
    static let exitGrace = Duration.seconds(2)

    /// Fails a pending request; `tellServer` sends `notifications/cancelled` with that reason.
    func abandon(_ id: Int, _ error: any Error, tellServer reason: String?) {
        let (continuation, connection) = state.withLock { ($0.pending.removeValue(forKey: id), $0.connection) }
        guard let continuation else { return }
        connection?.giveUp(on: .int(id))
        if let reason {
            connection?.send([
                "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": ["requestId": .int(id), "reason": .string(reason)],
            ])
        }
        continuation.resume(throwing: error)
    }

    func failAll(_ error: any Error) {
        let pending = state.withLock { state in
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for continuation in pending { continuation.resume(throwing: error) }
    }
}
