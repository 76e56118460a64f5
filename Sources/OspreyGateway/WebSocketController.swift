import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import OspreyAgent
import OspreyCore
import OspreyScheduler
import OspreyStore

/// `/api/ws`: request/response frames and live events over one WebSocket.
///
/// Frames are `{"type":"req","id":…,"method":…,"params":{…}}` in and
/// `{"type":"res","id":…,"ok":true,"payload":…}` / `{"type":"res","id":…,"ok":false,"error":{…}}` /
/// `{"type":"event","payload":<event>}` out. Auth and the Origin check happen before the upgrade.
struct WebSocketController {
    /// The operations the socket may reach, by name; ``WebSocketConnection/methods`` says which it serves.
    let operations: [String: Operation]
    let ledger: Ledger
    let authenticator: Authenticator
    /// The sockets open now (`osprey_open_streams{door="websocket"}`).
    let streams: CoreMetrics.Meter
    /// Opening the socket needs a viewer; each method then checks its own role and the token's scopes.
    static let access = RouteAccess.role(.viewer)

    func add(to router: Router<GatewayRequestContext>) {
        let operations = self.operations
        let ledger = self.ledger
        let authenticator = self.authenticator
        let streams = self.streams
        router.ws("/api/ws") { inbound, outbound, context in
            streams.increment()
            defer { streams.decrement() }
            let token = context.requestContext.token
            let connection = WebSocketConnection(
                operations: operations,
                ledger: ledger,
                authenticator: authenticator,
                token: token,
                outbound: outbound
            )
            // Whichever ends first ends the connection: the client leaving, or its token being revoked.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await connection.run(inbound) }
                if let token { group.addTask { await connection.closeWhenRevoked(token) } }
                await group.next()
                group.cancelAll()
            }
        }
    }
}

/// One open WebSocket: reads request frames in order, answers each, and runs at most one event subscription.
///
/// A request frame calls the operation its `method` names with its `params` as the fields; `ping`, `subscribe`
/// and `unsubscribe` belong to the socket itself.
struct WebSocketConnection: Sendable {
    let operations: [String: Operation]
    let ledger: Ledger
    let authenticator: Authenticator
    let token: TokenRecord?
    let outbound: WebSocketOutboundWriter

    /// The operations the socket serves, and for three of them the member of the REST answer it sends
    /// (the socket has always answered these with the bare list).
    static let methods: [String: String?] = [
        "sessions.list": "sessions", "sessions.get": nil, "sessions.create": nil, "sessions.delete": nil,
        "sessions.messages": "messages", "sessions.send": nil, "sessions.cancel": nil,
        "events.list": "events", "audit.verify": nil,
        "tasks.submit": nil, "tasks.list": nil, "tasks.get": nil, "tasks.cancel": nil,
        "schedules.list": nil, "schedules.remove": nil, "schedules.run": nil,
        "approvals.list": nil, "approvals.approve": nil, "approvals.reject": nil,
    ]

    /// How many requests one socket runs at once.
    static let maxRunning = 16

    func run(_ inbound: WebSocketInboundStream) async {
        // The subscription must outlive one request and be cancellable by a later one, which a task group
        // child cannot be: this is the bridging edge where an unstructured Task is the right tool.
        var follower: Task<Void, Never>?
        defer { follower?.cancel() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var running = 0
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message else {
                        try await send([
                            "type": "res", "id": .null, "ok": false,
                            "error": Self.error("bad_frame", "Frames must be JSON text."),
                        ])
                        continue
                    }
                    let frame: [String: JSONValue]
                    do {
                        guard case .object(let members) = try JSONValue.parse(text),
                            members["type"]?.stringValue == "req"
                        else {
                            throw APIError.badRequest("A frame must be an object with type \"req\".")
                        }
                        frame = members
                    } catch {
                        let apiError = APIError.from(error) ?? APIError.badRequest("Malformed frame.")
                        try await send([
                            "type": "res", "id": .null, "ok": false,
                            "error": Self.error(apiError.code, apiError.message),
                        ])
                        continue
                    }
                    let id = frame["id"] ?? .null
                    let method = frame["method"]?.stringValue ?? ""
                    // Absent params are none; params that are not an object are refused, like an unknown one.
                    let given = frame["params"] ?? .null
                    guard let params = given == .null ? [:] : given.objectValue
                    else {
                        try await send([
                            "type": "res", "id": id, "ok": false,
                            "error": Self.error("invalid_request", "params must be an object."),
                        ])
                        continue
                    }
                    if method == "subscribe" || method == "unsubscribe" {
                        let payload: JSONValue
                        if method == "subscribe" {
                            let request: Subscribe
                            do {
                                request = try subscription(params)
                            } catch {
                                let apiError = APIError.from(error) ?? APIError.badRequest("Malformed subscription.")
                                try await send([
                                    "type": "res", "id": id, "ok": false,
                                    "error": Self.error(apiError.code, apiError.message),
                                ])
                                continue
                            }
                            let after: Int
                            if let given = request.after { after = given } else { after = try await ledger.lastSeq() }
                            let filter = request.filter
                            follower?.cancel()
                            let ledger = self.ledger
                            let outbound = self.outbound
                            follower = Task {
                                try? await ledger.follow(after: after, filter: filter) { event in
                                    let frame: JSONValue = ["type": "event", "payload": event.envelope]
                                    try await outbound.write(.text(frame.canonicalJSON))
                                }
                            }
                            payload = ["subscribed": true, "after": .int(after)]
                        } else {
                            follower?.cancel()
                            follower = nil
                            payload = ["subscribed": false]
                        }
                        try await send(["type": "res", "id": id, "ok": true, "payload": payload])
                        continue
                    }
                    // Requests run side by side, so an approval can be answered while a send on the same socket waits for
                    // it; at most `maxRunning` at once: past that the next frame is read when one ends, so a client that
                    // sends faster than it reads its answers waits on its own socket instead of filling the gateway's
                    // memory with them.
                    if running == Self.maxRunning {
                        _ = try await group.next()
                        running -= 1
                    }
                    running += 1
                    group.addTask {
                        do {
                            let payload = try await handle(method, params)
                            try await send(["type": "res", "id": id, "ok": true, "payload": payload])
                        } catch is CancellationError {
                            return
                        } catch {
                            let apiError = APIError.answering(error)
                            try? await send([
                                "type": "res", "id": id, "ok": false,
                                "error": Self.error(apiError.code, apiError.message),
                            ])
                        }
                    }
                }
                // The peer is gone: nothing is left to answer to.
                group.cancelAll()
            }
        } catch {
            // The peer closed or sent an invalid frame; the connection ends either way.
        }
    }

    /// Waits for this connection's token to be revoked (a `token.revoked` event), then closes the socket at once.
    func closeWhenRevoked(_ token: TokenRecord) async {
        guard await authenticator.waitUntilEnded(token, bus: ledger.bus) else { return }
        try? await outbound.close(.policyViolation, reason: "token revoked or expired")
    }

    /// What `subscribe` asks for: events after `after` (default: from now on) that match the filter.
    struct Subscribe: OperationRequest {
        static let fields: Set<String> = ["after", "type", "session", "task"]
        let after: Int?
        let filter: EventFilter
        init(_ fields: Fields) throws {
            after = try fields["after"] == nil ? nil : fields.int("after", default: 0, range: 0...Int.max)
            filter = EventFilter(
                type: try fields.optionalString("type"),
                session: try fields.optionalString("session").map { Session.ID($0) },
                task: try fields.optionalString("task").map { TaskRecord.ID($0) }
            )
        }
    }

    /// A subscription's request, decoded strictly; it reads the event stream, so it needs the `events` scope as
    /// `GET /api/events/stream` does.
    func subscription(_ params: [String: JSONValue]) throws -> Subscribe {
        if let refusal = Gatekeeper.refusal(token: token, role: .viewer, group: "events") { throw refusal }
        return try Subscribe(Fields(json: params).strict(Subscribe.fields))
    }

    func handle(_ method: String, _ params: [String: JSONValue]) async throws -> JSONValue {
        if method == "ping" { return ["pong": true] }
        guard let member = Self.methods[method], let operation = operations[method] else {
            throw APIError(.notFound, "unknown_method", "No method named '\(method)'.")
        }
        var params = params
        // The socket has always taken a session's id as `id` too.
        if operation.fields.contains("session"), !operation.fields.contains("id"), params["session"] == nil {
            params["session"] = params.removeValue(forKey: "id")
        }
        let outbound = self.outbound
        let caller = Caller(token: token) { session, event in
            let (type, data) = AgentRunner.frame(event)
            let frame: JSONValue = [
                "type": "event",
                "payload": ["type": .string(type), "session": .string(session.rawValue), "data": data],
            ]
            try await outbound.write(.text(frame.canonicalJSON))
        }
        let answer = try await operation.call(Fields(json: params), caller: caller)
        guard let member else { return answer }
        return answer[member] ?? .null
    }

    func send(_ frame: JSONValue) async throws {
        try await outbound.write(.text(frame.canonicalJSON))
    }

    static func error(_ code: String, _ message: String) -> JSONValue {
        ["code": .string(code), "message": .string(message)]
    }
}
