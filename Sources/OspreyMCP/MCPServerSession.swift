public import OspreyCore
import Synchronization

/// One MCP session on Osprey's server side, whatever carries it (stdio today): JSON-RPC messages in, answers out.
///
/// It speaks the 2025-06-18 revision (and accepts 2025-03-26 and 2024-11-05 from older hosts), offers tools only,
/// and answers every malformed or unknown message with the JSON-RPC error the specification names: -32700 for text
/// that is not JSON, -32600 for a batch or a message that is not a request, -32601 for an unknown method, -32602
/// for an unknown tool or bad parameters. A tool that fails answers with `isError` and its message. A request the
/// host cancels (`notifications/cancelled`) stops its call and gets no answer.
public final class MCPServerSession: Sendable {
    /// A tool the session offers: what the host sees, and what a call does.
    public struct ServedTool: Sendable {
        public var name: String
        public var description: String
        public var inputSchema: JSONValue
        public var call: @Sendable (JSONValue) async throws -> String

        public init(
            name: String,
            description: String,
            inputSchema: JSONValue,
            call: @escaping @Sendable (JSONValue) async throws -> String
        ) {
            self.name = name
            self.description = description
            self.inputSchema = inputSchema
            self.call = call
        }
    }

    public static let protocolVersions = ["2025-06-18", "2025-03-26", "2024-11-05"]

    private let tools: [String: ServedTool]
    private let order: [String]
    private let serverName: String
    private let version: String
    private let instructions: String?
    private let state = Mutex<(initialized: Bool, running: [String: Task<Void, Never>])>((false, [:]))
    /// Where answers go (a line on stdout for stdio); called from any task, one message at a time per call.
    private let send: @Sendable (JSONValue) -> Void

    public init(
        tools: [ServedTool],
        serverName: String = "osprey",
        version: String,
        instructions: String? = nil,
        send: @escaping @Sendable (JSONValue) -> Void
    ) {
        var table: [String: ServedTool] = [:]
        for tool in tools where table[tool.name] == nil { table[tool.name] = tool }
        self.tools = table
        self.order = tools.map(\.name).filter { table[$0] != nil }
        self.serverName = serverName
        self.version = version
        self.instructions = instructions
        self.send = send
    }

    /// Handles one line from the host. Requests that call tools run in their own task, so a slow call does not hold
    /// the session; everything else is answered before this returns.
    public func receive(line bytes: [UInt8]) {
        let message: JSONValue
        do {
            message = try JSONValue.parse(bytes)
        } catch {
            return send(Self.error(id: .null, code: -32700, "Parse error: \(error)"))
        }
        receive(message)
    }

    public func receive(_ message: JSONValue) { handle(message, reply: send, ownChannel: true) }

    /// Handles one message whose answer, if it has one, goes to `reply` (a transport that answers each request on
    /// its own, such as an HTTP POST). A request's answer always comes, once: a call the host cancels is answered
    /// with error -32800.
    public func receive(_ message: JSONValue, reply: @escaping @Sendable (JSONValue) -> Void) {
        handle(message, reply: reply, ownChannel: false)
    }

    private func handle(_ message: JSONValue, reply send: @escaping @Sendable (JSONValue) -> Void, ownChannel: Bool) {
        guard let object = message.objectValue else {
            let what = message.arrayValue != nil ? "batches are not supported in protocol 2025-06-18" : "not an object"
            return send(Self.error(id: .null, code: -32600, "Invalid request: \(what)"))
        }
        let id = object["id"]
        guard object["jsonrpc"]?.stringValue == "2.0", let method = object["method"]?.stringValue else {
            // An answer to a request this server never makes, or something that is no request at all.
            if object["result"] != nil || object["error"] != nil { return }
            return send(
                Self.error(id: id ?? .null, code: -32600, "Invalid request: jsonrpc 2.0 and a method are required")
            )
        }
        let params = object["params"] ?? [:]
        guard let id else { return notification(method, params) }
        guard id.stringValue != nil || id.intValue != nil else {
            return send(Self.error(id: .null, code: -32600, "Invalid request: the id must be a string or an integer"))
        }
        switch method {
        case "initialize":
            let asked = params["protocolVersion"]?.stringValue ?? ""
            let version = Self.protocolVersions.contains(asked) ? asked : Self.protocolVersions[0]
            state.withLock { $0.initialized = true }
            var result: [String: JSONValue] = [
                "protocolVersion": .string(version),
                "capabilities": ["tools": ["listChanged": false]],
                "serverInfo": ["name": .string(serverName), "version": .string(self.version)],
            ]
            if let instructions { result["instructions"] = .string(instructions) }
            send(["jsonrpc": "2.0", "id": id, "result": .object(result)])
        case "ping":
            send(["jsonrpc": "2.0", "id": id, "result": [:]])
        case _ where !state.withLock({ $0.initialized }):
            send(Self.error(id: id, code: -32600, "Invalid request: initialize first"))
        case "tools/list":
            let listed = order.compactMap { tools[$0] }.map { tool -> JSONValue in
                ["name": .string(tool.name), "description": .string(tool.description), "inputSchema": tool.inputSchema]
            }
            send(["jsonrpc": "2.0", "id": id, "result": ["tools": .array(listed)]])
        case "tools/call":
            guard let name = params["name"]?.stringValue else {
                return send(Self.error(id: id, code: -32602, "Invalid params: 'name' is required"))
            }
            guard let tool = tools[name] else {
                return send(Self.error(id: id, code: -32602, "Unknown tool: \(name)"))
            }
            let arguments = params["arguments"] ?? [:]
            guard arguments.objectValue != nil else {
                return send(Self.error(id: id, code: -32602, "Invalid params: 'arguments' must be an object"))
            }
            let key = id.canonicalJSON
            // Registered before it can finish, so its answer always finds it.
            state.withLock { state in
                state.running[key] = Task { [send] in
                    let result: JSONValue
                    do {
                        let text = try await tool.call(arguments)
                        result = ["content": [["type": "text", "text": .string(text)]], "isError": false]
                    } catch is CancellationError {
                        _ = self.state.withLock { $0.running.removeValue(forKey: key) }
                        return  // cancelled by the host: no answer, as the specification asks
                    } catch {
                        result = ["content": [["type": "text", "text": .string("\(error)")]], "isError": true]
                    }
                    let current = self.state.withLock { $0.running.removeValue(forKey: key) }
                    if current != nil { send(["jsonrpc": "2.0", "id": id, "result": result]) }
                }
            }
        default:
            send(Self.error(id: id, code: -32601, "Method not found: \(method)"))
        }
    }

    /// Answers a line the transport could not take (too long): an invalid request with no id.
    public func refuse(_ reason: String) {
        send(Self.error(id: .null, code: -32600, "Invalid request: \(reason)"))
    }

    /// Waits for the calls in flight (at the end of the host's input).
    public func drain() async {
        while let task = state.withLock({ $0.running.values.first }) { await task.value }
    }

    private func notification(_ method: String, _ params: JSONValue) {
        guard method == "notifications/cancelled", let request = params["requestId"] else { return }
        let task = state.withLock { $0.running.removeValue(forKey: request.canonicalJSON) }
        task?.cancel()
    }

    static func error(id: JSONValue, code: Int, _ message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": ["code": .int(code), "message": .string(message)]]
    }
}
