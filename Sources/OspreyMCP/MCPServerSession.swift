public import OspreyCore
import Synchronization

/// One MCP session on Osprey's server side, whatever carries it: JSON-RPC messages in, answers out.
///
/// It speaks the 2025-06-18 revision (and accepts 2025-03-26 and 2024-11-05 from older hosts) and offers tools,
/// resources (with templates and subscriptions) and prompts. Every malformed or unknown message gets the JSON-RPC
/// error the specification names: -32700 for text that is not JSON, -32600 for a batch or a message that is not a
/// request, -32601 for an unknown method, -32602 for an unknown tool, prompt or resource or bad parameters. A tool
/// that fails answers with `isError` and its message. A request that names a `progressToken` hears
/// `notifications/progress` while it runs. A request the host cancels (`notifications/cancelled`) stops.
public final class MCPServerSession: Sendable {
    public static let protocolVersions = ["2025-06-18", "2025-03-26", "2024-11-05"]

    private let tools: [String: ServedTool]
    private let order: [String]
    private let prompts: [String: ServedPrompt]
    private let promptOrder: [String]
    private let resources: ServedResources?
    private let serverName: String
    private let version: String
    private let instructions: String?
    /// How often a request with a progress token hears that it is still running, when nothing else was said.
    private let heartbeat: Duration
    private let state = Mutex(State())
    /// Where messages that answer no request go (a line on stdout for stdio, the GET stream for HTTP).
    private let send: @Sendable (JSONValue) -> Void
    /// Called when a request's work has ended, answered or not: a transport that bounds the requests in flight
    /// (``inFlight``) reads on.
    private let requestEnded: @Sendable () -> Void

    /// A request in flight: its work, and how to answer it if the host cancels it (only on a transport that waits
    /// for one answer per request).
    struct Running {
        /// Nil while the work, started immediately, has not yet suspended for the first time.
        var task: Task<Void, Never>?
        var answerCancelled: (@Sendable () -> Void)?
    }

    struct State {
        var initialized = false
        var running: [String: Running] = [:]
        /// Requests cancelled before their task was known (during the immediate start): cancelled once it is.
        var cancelledEarly: Set<String> = []
        var subscriptions: Set<String> = []
    }

    public init(
        tools: [ServedTool],
        resources: ServedResources? = nil,
        prompts: [ServedPrompt] = [],
        serverName: String = "osprey",
        version: String,
        instructions: String? = nil,
        heartbeat: Duration = .seconds(10),
        send: @escaping @Sendable (JSONValue) -> Void,
        requestEnded: @escaping @Sendable () -> Void = {}
    ) {
        var table: [String: ServedTool] = [:]
        for tool in tools where table[tool.name] == nil { table[tool.name] = tool }
        self.tools = table
        self.order = tools.map(\.name).filter { table[$0] != nil }
        var promptTable: [String: ServedPrompt] = [:]
        for prompt in prompts where promptTable[prompt.name] == nil { promptTable[prompt.name] = prompt }
        self.prompts = promptTable
        self.promptOrder = prompts.map(\.name).filter { promptTable[$0] != nil }
        self.resources = resources
        self.serverName = serverName
        self.version = version
        self.instructions = instructions
        self.heartbeat = heartbeat
        self.send = send
        self.requestEnded = requestEnded
    }

    /// Handles one line from the host. Requests that do work run in their own task, so a slow call does not hold
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

    /// Handles one message; answers and progress go to the session's own channel.
    public func receive(_ message: JSONValue) { handle(message, reply: send) }

    /// Handles one message whose answer and progress, if it has them, go to `reply` (a transport that answers each
    /// request on its own, such as an HTTP POST); the answer is the last message. A request's answer always comes,
    /// once: a call the host cancels is answered with error -32800.
    ///
    /// `immediate` starts a request's work on the calling task's thread (`Task.immediate`) until its first
    /// suspension, instead of enqueueing it: a call answered from the store then costs no thread hop at all. Only
    /// for a caller that is itself a task (an HTTP handler), never an event loop.
    public func receive(
        _ message: JSONValue,
        immediate: Bool = false,
        reply: @escaping @Sendable (JSONValue) -> Void
    ) {
        handle(message, reply: reply, answerCancelled: true, immediate: immediate)
    }

    /// Requests whose work is running (calls, reads, prompts); everything else is answered as it is received.
    public var inFlight: Int { state.withLock { $0.running.count } }

    /// The URIs the host subscribed to.
    public var subscriptions: Set<String> { state.withLock { $0.subscriptions } }

    /// Tells the host that a resource changed, if it subscribed to it.
    public func resourceUpdated(_ uri: String) {
        guard state.withLock({ $0.subscriptions.contains(uri) }) else { return }
        send(["jsonrpc": "2.0", "method": "notifications/resources/updated", "params": ["uri": .string(uri)]])
    }

    /// Cancels every request in flight (the transport closed).
    public func close() {
        let running = state.withLock { state in
            defer { state.running.removeAll() }
            for (key, request) in state.running where request.task == nil { state.cancelledEarly.insert(key) }
            return Array(state.running.values)
        }
        for request in running { request.task?.cancel() }
    }

    private func handle(
        _ message: JSONValue,
        reply send: @escaping @Sendable (JSONValue) -> Void,
        answerCancelled: Bool = false,
        immediate: Bool = false
    ) {
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
        guard params.objectValue != nil else {
            return send(Self.error(id: id, code: -32602, "Invalid params: 'params' must be an object"))
        }
        func answer(_ result: JSONValue) { send(["jsonrpc": "2.0", "id": id, "result": result]) }
        switch method {
        case "initialize":
            let asked = params["protocolVersion"]?.stringValue ?? ""
            let version = Self.protocolVersions.contains(asked) ? asked : Self.protocolVersions[0]
            state.withLock { $0.initialized = true }
            var capabilities: [String: JSONValue] = ["tools": ["listChanged": false]]
            if resources != nil { capabilities["resources"] = ["subscribe": true, "listChanged": false] }
            if !prompts.isEmpty { capabilities["prompts"] = ["listChanged": false] }
            var result: [String: JSONValue] = [
                "protocolVersion": .string(version),
                "capabilities": .object(capabilities),
                "serverInfo": ["name": .string(serverName), "version": .string(self.version)],
            ]
            if let instructions { result["instructions"] = .string(instructions) }
            answer(.object(result))
        case "ping":
            answer([:])
        case _ where !state.withLock({ $0.initialized }):
            send(Self.error(id: id, code: -32600, "Invalid request: initialize first"))
        case _
        where Self.listMethods.contains(method) && (params["cursor"] ?? .null) != .null
            && (resources != nil || !method.hasPrefix("resources/")):
            // Every list is answered whole, with no `nextCursor`: a cursor is one this server never gave (the spec's
            // SHOULD: -32602), not a request for the first page again.
            send(Self.error(id: id, code: -32602, "Invalid params: unknown cursor (every list comes whole)"))
        case "tools/list":
            let listed = order.compactMap { tools[$0] }.map { tool -> JSONValue in
                ["name": .string(tool.name), "description": .string(tool.description), "inputSchema": tool.inputSchema]
            }
            answer(["tools": .array(listed)])
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
            run(id: id, params: params, reply: send, answerCancelled: answerCancelled, immediate: immediate) {
                progress in
                do {
                    let text = try await tool.call(arguments, progress)
                    return ["content": [["type": "text", "text": .string(text)]], "isError": false]
                } catch let error as CancellationError {
                    throw error
                } catch {
                    return ["content": [["type": "text", "text": .string("\(error)")]], "isError": true]
                }
            }
        case "prompts/list":
            let listed = promptOrder.compactMap { prompts[$0] }.map { prompt -> JSONValue in
                let arguments = prompt.arguments.map { argument -> JSONValue in
                    [
                        "name": .string(argument.name), "description": .string(argument.description),
                        "required": .bool(argument.required),
                    ]
                }
                return [
                    "name": .string(prompt.name), "description": .string(prompt.description),
                    "arguments": .array(arguments),
                ]
            }
            answer(["prompts": .array(listed)])
        case "prompts/get":
            guard let name = params["name"]?.stringValue, let prompt = prompts[name] else {
                return send(Self.error(id: id, code: -32602, "Unknown prompt: \(params["name"]?.stringValue ?? "")"))
            }
            var arguments: [String: String] = [:]
            for (key, value) in params["arguments"]?.objectValue ?? [:] {
                guard let text = value.stringValue else {
                    return send(Self.error(id: id, code: -32602, "Invalid params: argument '\(key)' must be a string"))
                }
                arguments[key] = text
            }
            for argument in prompt.arguments where argument.required && arguments[argument.name] == nil {
                return send(Self.error(id: id, code: -32602, "Invalid params: argument '\(argument.name)' is required"))
            }
            run(id: id, params: params, reply: send, answerCancelled: answerCancelled, immediate: immediate) {
                [arguments] _ in
                ["description": .string(prompt.description), "messages": .array(try await prompt.messages(arguments))]
            }
        case "resources/list", "resources/templates/list", "resources/read", "resources/subscribe",
            "resources/unsubscribe":
            guard let resources else { return send(Self.error(id: id, code: -32601, "Method not found: \(method)")) }
            resource(
                method,
                id: id,
                params: params,
                resources: resources,
                reply: send,
                answerCancelled: answerCancelled,
                immediate: immediate
            )
        default:
            send(Self.error(id: id, code: -32601, "Method not found: \(method)"))
        }
    }

    private func resource(
        _ method: String,
        id: JSONValue,
        params: JSONValue,
        resources: ServedResources,
        reply send: @escaping @Sendable (JSONValue) -> Void,
        answerCancelled: Bool,
        immediate: Bool
    ) {
        if method == "resources/templates/list" {
            return send(["jsonrpc": "2.0", "id": id, "result": ["resourceTemplates": .array(resources.templates)]])
        }
        if method == "resources/list" {
            return run(id: id, params: params, reply: send, answerCancelled: answerCancelled, immediate: immediate) {
                _ in
                ["resources": .array(try await resources.list())]
            }
        }
        guard let uri = params["uri"]?.stringValue, !uri.isEmpty, uri.utf8.count <= 4096 else {
            return send(Self.error(id: id, code: -32602, "Invalid params: 'uri' is required"))
        }
        switch method {
        case "resources/subscribe":
            state.withLock { _ = $0.subscriptions.insert(uri) }
            send(["jsonrpc": "2.0", "id": id, "result": [:]])
        case "resources/unsubscribe":
            state.withLock { _ = $0.subscriptions.remove(uri) }
            send(["jsonrpc": "2.0", "id": id, "result": [:]])
        default:
            run(id: id, params: params, reply: send, answerCancelled: answerCancelled, immediate: immediate) { _ in
                ["contents": .array(try await resources.read(uri))]
            }
        }
    }

    /// Runs a request's work in a task of its own, registered before it can finish (so its answer always finds
    /// it): the answer, or the JSON-RPC error its failure maps to; nothing, or -32800, when it is cancelled.
    private func run(
        id: JSONValue,
        params: JSONValue,
        reply send: @escaping @Sendable (JSONValue) -> Void,
        answerCancelled: Bool,
        immediate: Bool,
        work: @escaping @Sendable (MCPProgress) async throws -> JSONValue
    ) {
        let key = id.canonicalJSON
        let progress = MCPProgress(token: params["_meta"]?["progressToken"], send: send)
        let heartbeat = self.heartbeat
        let cancelled: (@Sendable () -> Void)? =
            answerCancelled ? { @Sendable in send(Self.error(id: id, code: -32800, "Request cancelled")) } : nil
        // Registered before the work starts, so its end always finds it (an immediate start may end at once). An
        // id already in flight is refused: the work would be neither cancellable nor counted.
        let taken = state.withLock { state -> Bool in
            guard state.running[key] == nil else { return true }
            state.cancelledEarly.remove(key)
            state.running[key] = Running(task: nil, answerCancelled: cancelled)
            return false
        }
        if taken {
            return send(
                Self.error(id: id, code: -32600, "Invalid request: id \(key) is already in use by a request in flight")
            )
        }
        let requestEnded = self.requestEnded
        let body: @Sendable () async -> Void = {
            defer { requestEnded() }
            let ticker: Task<Void, any Error>? =
                progress.isActive
                ? Task {
                    while true {
                        try await Task.sleep(for: heartbeat)
                        progress.tick("still working")
                    }
                } : nil
            defer { ticker?.cancel() }
            var answer: JSONValue?
            do {
                answer = ["jsonrpc": "2.0", "id": id, "result": try await work(progress)]
            } catch is CancellationError {
                answer = nil
            } catch let error as MCPResourceNotFound {
                answer = Self.error(id: id, code: -32002, "Resource not found: \(error.uri)")
            } catch let error as MCPInvalidParams {
                answer = Self.error(id: id, code: -32602, "Invalid params: \(error.message)")
            } catch {
                answer = Self.error(id: id, code: -32603, "\(error)")
            }
            let current = self.state.withLock { $0.running.removeValue(forKey: key) }
            guard let current else { return }  // cancelled: answered (or not) when the cancel came
            // A task cancelled without a cancel from the host (its transport closed) still answers once, if
            // its transport waits for an answer.
            if let answer { send(answer) } else { current.answerCancelled?() }
        }
        let task: Task<Void, Never> = immediate ? Task.immediate { await body() } : Task { await body() }
        let cancelNow = state.withLock { state -> Bool in
            if state.running[key] != nil {
                state.running[key]?.task = task
                return false
            }
            return state.cancelledEarly.remove(key) != nil
        }
        if cancelNow { task.cancel() }
    }

    /// Answers a line the transport could not take (too long): an invalid request with no id.
    public func refuse(_ reason: String) {
        send(Self.error(id: .null, code: -32600, "Invalid request: \(reason)"))
    }

    /// Waits for the calls in flight (at the end of the host's input).
    public func drain() async {
        while let request = state.withLock({ $0.running.values.first }) {
            if let task = request.task { await task.value } else { await Task.yield() }
        }
    }

    private func notification(_ method: String, _ params: JSONValue) {
        guard method == "notifications/cancelled", let request = params["requestId"] else { return }
        // The request stops; a transport that waits for one answer per request hears -32800 now, not when the
        // work has wound down (the host may have moved on, or closed, by then). On its own channel the
        // specification asks for no answer at all.
        let key = request.canonicalJSON
        let running = state.withLock { state -> Running? in
            guard let running = state.running.removeValue(forKey: key) else { return nil }
            if running.task == nil { state.cancelledEarly.insert(key) }
            return running
        }
        guard let running else { return }
        running.task?.cancel()
        running.answerCancelled?()
    }

    /// The methods that list, each answered in one page.
    static let listMethods: Set<String> = ["tools/list", "prompts/list", "resources/list", "resources/templates/list"]

    static func error(id: JSONValue, code: Int, _ message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": ["code": .int(code), "message": .string(message)]]
    }
}
