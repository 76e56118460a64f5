import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore

/// The Agent2Agent door (protocol v0.3, JSON-RPC binding): the agent card at `/.well-known/agent-card.json` and
/// `message/send`, `message/stream`, `tasks/get`, `tasks/cancel` and `tasks/resubscribe` at `/a2a`.
///
/// An A2A task is an Osprey task: `message/send` is `tasks.submit` from the one operation table (same supervisor,
/// ledger, policy, budgets), its id is the task's id, and its `contextId` is the task's `context`, so a later message
/// in the same context runs with the earlier exchanges before it. What another agent sends is untrusted unless
/// `[a2a] trust_inbound`: the task starts tainted. The agent is picked by the message's (or the request's)
/// `metadata.agent`, else the token's bound agent, else `[a2a] agent`. Progress streams come from the ledger's
/// events for the task, so a stream and a later `tasks/resubscribe` tell the same story.
struct A2AController {
    let operations: [String: Operation]
    let settings: OspreyConfig.A2A
    /// The agents, with the model each runs on (for the card's skills).
    let agents: [(name: String, model: String)]
    let bus: EventBus
    let maxBodyBytes: Int
    /// How long a blocking `message/send` waits for its task before answering with it unfinished (the client then
    /// polls `tasks/get`).
    let blockingWait: Duration
    /// How long a stream may stay silent before a keep-alive comment.
    var keepAlive: Duration = .seconds(15)

    static let cardPath = "/.well-known/agent-card.json"
    static let path = "/a2a"

    /// The events a task's A2A stream tells of.
    static let followed: Set<Event.Kind> = [
        .taskStarted, .taskCompleted, .taskFailed, .taskCancelled, .toolCallRequested, .approvalRequested,
    ]
    static let finished: Set<Event.Kind> = [.taskCompleted, .taskFailed, .taskCancelled]

    func add(to routes: inout RouteTable) {
        routes.on(.get, Self.cardPath, settings.publicCard ? .open : .role(.viewer)) { request, _ in
            JSONRPC.answer(card(authority: request.head.authority ?? "127.0.0.1"))
        }
        routes.on(.post, Self.path, .role(.viewer)) { request, context in try await post(request, context) }
    }

    static let description =
        "A self-hosted agent operating system: each skill is one of its agents, run as a task under its own tools, "
        + "policy and budgets."

    /// The agent card: Osprey as one A2A agent whose skills are its configured agents.
    func card(authority: String) -> JSONValue {
        [
            "protocolVersion": .string(A2AWire.protocolVersion), "name": "Osprey",
            "description": .string(Self.description),
            "url": .string("http://\(authority)\(Self.path)"), "preferredTransport": "JSONRPC",
            "version": .string(Kernel.version),
            "capabilities": ["streaming": true, "pushNotifications": false, "stateTransitionHistory": false],
            "defaultInputModes": ["text/plain", "application/json"], "defaultOutputModes": ["text/plain"],
            "skills": .array(
                agents.map { agent in
                    [
                        "id": .string(agent.name), "name": .string(agent.name),
                        "description": .string(
                            "The Osprey agent '\(agent.name)' (\(agent.model)). Pick it with metadata.agent."
                        ),
                        "tags": ["osprey", "agent"],
                    ]
                }
            ),
            "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
            "security": [["bearer": []]],
        ]
    }

    func post(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let message: JSONValue
        do {
            message = try await JSONRPC.message(of: request, upTo: maxBodyBytes)
        } catch let refusal as JSONRPC.Refusal {
            return refusal.response
        }
        let id = message["id"] ?? .null
        guard message.objectValue != nil, message["jsonrpc"] == "2.0", let method = message["method"]?.stringValue,
            id.stringValue != nil || id.intValue != nil
        else {
            return JSONRPC.answer(
                JSONRPC.error(
                    id.stringValue != nil || id.intValue != nil ? id : .null,
                    -32600,
                    "Invalid Request: one JSON-RPC 2.0 request with a method and a string or integer id"
                )
            )
        }
        let params = message["params"] ?? [:]
        var caller = Caller(token: context.token)
        caller.door = "a2a"
        caller.untrusted = !settings.trustInbound
        do {
            guard params.objectValue != nil else { throw Failure(-32602, "Invalid params: params must be an object") }
            switch method {
            case "message/send": return JSONRPC.answer(JSONRPC.result(id, try await send(params, caller)))
            case "message/stream":
                let subscription = subscribe()
                let task = try await submit(params, caller)
                return try stream(id, task: task, from: subscription, caller: caller)
            case "tasks/get":
                let task = try await operations.call("tasks.get", ["id": .string(try Self.taskID(params))], as: caller)
                return JSONRPC.answer(
                    JSONRPC.result(id, try Self.task(task, historyLength: Self.historyLength(params)))
                )
            case "tasks/cancel":
                let task = try await operations.call(
                    "tasks.cancel",
                    ["id": .string(try Self.taskID(params))],
                    as: caller
                )
                return JSONRPC.answer(JSONRPC.result(id, try Self.task(task)))
            case "tasks/resubscribe":
                let subscription = subscribe()
                let task = try await operations.call("tasks.get", ["id": .string(try Self.taskID(params))], as: caller)
                return try stream(id, task: task, from: subscription, caller: caller)
            case let push where push.hasPrefix("tasks/pushNotificationConfig/"):
                throw Failure(A2AWire.ErrorCode.pushNotificationNotSupported, "Push notifications are not supported")
            default: throw Failure(-32601, "Method not found: \(method)")
            }
        } catch {
            let failure = Failure.from(error)
            return JSONRPC.answer(JSONRPC.error(id, failure.code, failure.message), status: failure.status)
        }
    }

    /// The committed events of every task's progress from now on; taken before a task is submitted or read, so none
    /// is missed in between.
    func subscribe() -> EventBus.Subscription {
        bus.subscribe(where: { $0.task != nil && Self.followed.contains($0.type) })
    }

    /// `message/send`: the task submitted, then (when `configuration.blocking` is not false) awaited until it
    /// ends or `blockingWait` passes.
    func send(_ params: JSONValue, _ caller: Caller) async throws -> JSONValue {
        let blocking = params["configuration"]?["blocking"] != false
        let subscription = blocking ? subscribe() : nil
        let submitted = try await submit(params, caller)
        guard let subscription, let id = submitted["id"]?.stringValue else {
            return try Self.task(submitted)
        }
        let wait = blockingWait
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscription where event.task?.rawValue == id && Self.finished.contains(event.type) {
                    return
                }
            }
            group.addTask { try? await Task.sleep(for: wait) }
            await group.next()
            group.cancelAll()
        }
        let task = try await operations.call("tasks.get", ["id": .string(id)], as: caller)
        return try Self.task(task, historyLength: Self.historyLength(params["configuration"] ?? [:]))
    }

    /// Submits the task a `message/send` or `message/stream` asks for; its Osprey form.
    func submit(_ params: JSONValue, _ caller: Caller) async throws -> JSONValue {
        guard let message = params["message"], message.objectValue != nil else {
            throw Failure(-32602, "Invalid params: params.message is required")
        }
        guard message["role"] == "user" else { throw Failure(-32602, "Invalid params: message.role must be 'user'") }
        guard let parts = message["parts"]?.arrayValue, !parts.isEmpty else {
            throw Failure(-32602, "Invalid params: message.parts must be a non-empty array")
        }
        if parts.contains(where: { $0["kind"] == "file" }) {
            throw Failure(A2AWire.ErrorCode.contentTypeNotSupported, "File parts are not accepted: send text or data")
        }
        guard let text = A2AWire.text(of: message["parts"]),
            !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw Failure(-32602, "Invalid params: message.parts must be text or data parts, with some text")
        }
        if let taskID = message["taskId"]?.stringValue {
            let task = try await operations.call("tasks.get", ["id": .string(taskID)], as: caller)
            let state = try Self.state(task)
            throw A2AWire.terminalStates.contains(state)
                ? Failure(-32602, "Invalid params: task \(taskID) is \(state) and takes no more messages")
                : Failure(
                    A2AWire.ErrorCode.unsupportedOperation,
                    "Task \(taskID) takes no input while it runs: send a new message with its contextId"
                )
        }
        let named = message["metadata"]?["agent"]?.stringValue ?? params["metadata"]?["agent"]?.stringValue
        let bound = caller.token?.agent
        if let named, let bound, named != bound {
            throw Failure(-32602, "Invalid params: this token is bound to the agent '\(bound)'")
        }
        let agent = named ?? bound ?? settings.agent
        let contextID = message["contextId"]?.stringValue ?? "ctx_" + UUID().uuidString.lowercased()
        let firstLine = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        return try await operations.call(
            "tasks.submit",
            [
                "title": .string("A2A: " + String(firstLine.prefix(80))), "instructions": .string(text),
                "agent": .string(agent), "context": .string(contextID),
            ],
            as: caller
        )
    }

    /// An SSE stream of a task: the task as it is, then its status and artifact updates until it ends.
    func stream(
        _ id: JSONValue,
        task: JSONValue,
        from subscription: EventBus.Subscription,
        caller: Caller
    ) throws -> Response {
        let first = try Self.task(task)
        let taskID = first["id"]?.stringValue ?? ""
        let contextID = first["contextId"] ?? .null
        let frame = { @Sendable (result: JSONValue) -> ByteBuffer in
            ByteBuffer(string: "data: \(JSONRPC.result(id, result).canonicalJSON)\n\n")
        }
        let status = { @Sendable (state: String, text: String?, final: Bool) -> ByteBuffer in
            var status: [String: JSONValue] = [
                "state": .string(state), "timestamp": .string(WireFormat.timestamp(Date())),
            ]
            if let text { status["message"] = Self.message(text, role: "agent", task: taskID, context: contextID) }
            return frame([
                "kind": "status-update", "taskId": .string(taskID), "contextId": contextID, "status": .object(status),
                "final": .bool(final),
            ])
        }
        let keepAlive = self.keepAlive
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { @concurrent writer in
                let (frames, sink) = AsyncStream<ByteBuffer>.makeStream()
                sink.yield(frame(first))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        defer { sink.finish() }
                        // A task that already ended has nothing more to say.
                        if let state = first["status"]?["state"]?.stringValue, A2AWire.terminalStates.contains(state) {
                            return
                        }
                        for await event in subscription where event.task?.rawValue == taskID {
                            switch event.type {
                            case .taskStarted: sink.yield(status("working", nil, false))
                            case .toolCallRequested:
                                let tool = event.payload["tool"]?.stringValue ?? "a tool"
                                sink.yield(status("working", "Calling \(tool).", false))
                            case .approvalRequested:
                                sink.yield(status("working", "Waiting for a person to approve a tool call.", false))
                            default:
                                let final = try Self.task(
                                    try await operations.call("tasks.get", ["id": .string(taskID)], as: caller)
                                )
                                if let artifacts = final["artifacts"]?.arrayValue {
                                    for artifact in artifacts {
                                        sink.yield(
                                            frame([
                                                "kind": "artifact-update", "taskId": .string(taskID),
                                                "contextId": contextID, "artifact": artifact, "lastChunk": true,
                                            ])
                                        )
                                    }
                                }
                                let state = final["status"]?["state"]?.stringValue ?? "unknown"
                                let text = A2AWire.text(of: final["status"]?["message"]?["parts"])
                                sink.yield(status(state, text, true))
                                return
                            }
                        }
                    }
                    group.addTask {
                        // Comments keep proxies and idle timers from closing a quiet stream.
                        while true {
                            try await Task.sleep(for: keepAlive)
                            sink.yield(ByteBuffer(string: ": keep-alive\n\n"))
                        }
                    }
                    for await frame in frames { try await writer.write(frame) }
                    group.cancelAll()
                }
                try await writer.finish(nil)
            }
        )
    }
}
