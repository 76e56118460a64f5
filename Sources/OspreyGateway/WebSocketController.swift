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
    let kernel: Kernel
    /// Opening the socket needs a viewer; each method then checks its own role and the token's scopes.
    static let access = RouteAccess.role(.viewer)

    func add(to router: Router<GatewayRequestContext>) {
        let kernel = self.kernel
        router.ws("/api/ws") { inbound, outbound, context in
            let token = context.requestContext.token
            let connection = WebSocketConnection(kernel: kernel, token: token, outbound: outbound)
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
struct WebSocketConnection: Sendable {
    let kernel: Kernel
    let token: TokenRecord?
    let outbound: WebSocketOutboundWriter

    var actor: String { token.map { "user:\($0.name)" } ?? "anonymous" }

    func run(_ inbound: WebSocketInboundStream) async {
        // The subscription must outlive one request and be cancellable by a later one, which a task group
        // child cannot be: this is the bridging edge where an unstructured Task is the right tool.
        var follower: Task<Void, Never>?
        defer { follower?.cancel() }
        do {
            try await withThrowingDiscardingTaskGroup { group in
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
                    let params = frame["params"]?.objectValue ?? [:]
                    if method == "subscribe" || method == "unsubscribe" {
                        let payload: JSONValue
                        if method == "subscribe" {
                            let lastSeq = try await kernel.store.ledger.lastSeq()
                            let after = params["after"]?.intValue ?? lastSeq
                            let filter = EventFilter(
                                type: params["type"]?.stringValue,
                                session: params["session"]?.stringValue,
                                task: params["task"]?.stringValue
                            )
                            follower?.cancel()
                            let ledger = kernel.store.ledger
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
                    // Requests run side by side, so an approval can be answered while a send on the same socket waits for it.
                    group.addTask {
                        do {
                            let payload = try await handle(method, params)
                            try await send(["type": "res", "id": id, "ok": true, "payload": payload])
                        } catch is CancellationError {
                            return
                        } catch {
                            let apiError =
                                APIError.from(error)
                                ?? APIError(.internalServerError, "internal_error", "Internal error.")
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
        guard await kernel.authenticator.waitUntilEnded(token, bus: kernel.store.ledger.bus) else { return }
        try? await outbound.close(.policyViolation, reason: "token revoked or expired")
    }

    func handle(_ method: String, _ params: [String: JSONValue]) async throws -> JSONValue {
        let sessions = kernel.store.sessions
        func sessionID() throws -> Session.ID {
            guard let raw = params["session"]?.stringValue ?? params["id"]?.stringValue else {
                throw APIError.badRequest("params.session is required.")
            }
            return Session.ID(raw)
        }
        func require(_ role: TokenRole) throws {
            guard let token, token.role >= role else {
                throw APIError(.forbidden, "forbidden", "This token's role cannot call \(method).")
            }
        }
        // A scoped token reaches only the methods of its groups: `sessions.send` needs the `sessions` scope.
        if let scopes = token?.scopes, method != "ping" {
            let group = String(method.split(separator: ".").first ?? "")
            guard scopes.contains(group) else {
                throw APIError(.forbidden, "out_of_scope", "This token's scopes do not include '\(group)'.")
            }
        }
        switch method {
        case "ping":
            return ["pong": true]
        case "sessions.list":
            return try JSONValue(encoding: try await sessions.list(limit: params["limit"]?.intValue ?? 100))
        case "sessions.get":
            return try JSONValue(encoding: try await sessions.get(try sessionID()))
        case "sessions.create":
            try require(.operator)
            return try JSONValue(
                encoding: try await sessions.create(
                    agent: params["agent"]?.stringValue ?? "default",
                    title: params["title"]?.stringValue,
                    actor: actor
                )
            )
        case "sessions.delete":
            try require(.operator)
            try await sessions.delete(try sessionID(), actor: actor)
            return ["deleted": true]
        case "sessions.messages":
            return try JSONValue(encoding: try await sessions.messages(of: try sessionID()))
        case "sessions.send":
            try require(.operator)
            guard let content = params["content"]?.stringValue else {
                throw APIError.badRequest("params.content is required.")
            }
            try SessionsController.validate(content)
            let session = try sessionID()
            let outbound = self.outbound
            let result = try await AgentRunner(kernel: kernel).run(session: session, content: content, actor: actor) {
                event in
                let (type, data) = AgentRunner.frame(event)
                let frame: JSONValue = [
                    "type": "event",
                    "payload": ["type": .string(type), "session": .string(session.rawValue), "data": data],
                ]
                try await outbound.write(.text(frame.canonicalJSON))
            }
            return AgentRunner.summary(result)
        case "sessions.cancel":
            try require(.operator)
            guard kernel.runtime.runs.cancel(try sessionID().rawValue) else {
                throw APIError(.notFound, "not_running", "That session has no run in progress.")
            }
            return ["cancelled": true]
        case "events.list":
            let events = try await kernel.store.ledger.events(
                after: params["after"]?.intValue ?? 0,
                filter: EventFilter(type: params["type"]?.stringValue, session: params["session"]?.stringValue),
                limit: min(max(params["limit"]?.intValue ?? 100, 1), 1000)
            )
            return .array(events.map(\.envelope))
        case "audit.verify":
            return try JSONValue(encoding: try await kernel.store.ledger.verify())
        case "tasks.submit":
            try require(.operator)
            let draft = try TasksController.draft(params, knows: kernel.runtime.knows(agent:))
            return try await kernel.supervisor.submit(draft, actor: actor).json
        case "tasks.list":
            let tasks = try await kernel.store.tasks.list(status: params["status"]?.stringValue)
            return ["tasks": .array(tasks.map(\.json))]
        case "tasks.get":
            guard let raw = params["id"]?.stringValue else { throw APIError.badRequest("params.id is required.") }
            return try await kernel.store.tasks.get(TaskRecord.ID(raw)).json
        case "tasks.cancel":
            try require(.operator)
            guard let raw = params["id"]?.stringValue else { throw APIError.badRequest("params.id is required.") }
            return try await kernel.supervisor.cancel(TaskRecord.ID(raw), actor: actor).json
        case "schedules.list":
            return ["schedules": .array(try await kernel.store.schedules.list().map(\.json))]
        case "schedules.remove":
            try require(.operator)
            guard let raw = params["id"]?.stringValue else { throw APIError.badRequest("params.id is required.") }
            try await kernel.store.schedules.remove(ScheduleRecord.ID(raw), actor: actor)
            return ["removed": true]
        case "schedules.run":
            try require(.operator)
            guard let raw = params["id"]?.stringValue else { throw APIError.badRequest("params.id is required.") }
            return ["task": try await kernel.scheduler.fire(ScheduleRecord.ID(raw))?.json ?? .null]
        case "approvals.list":
            let status = params["status"]?.stringValue ?? "pending"
            guard ApprovalsController.statuses.contains(status) else {
                throw APIError.badRequest("params.status must be pending, granted, denied, expired, used or all.")
            }
            let approvals = try await kernel.store.approvals.list(status: status == "all" ? nil : status)
            return ["approvals": .array(approvals.map(\.json))]
        case "approvals.approve", "approvals.reject":
            try require(.operator)
            if let agent = token?.agent {
                throw APIError(
                    .forbidden,
                    "human_required",
                    "Approvals can only be decided with a human's token; this token acts for agent '\(agent)'."
                )
            }
            guard let raw = params["id"]?.stringValue else { throw APIError.badRequest("params.id is required.") }
            let scope = params["scope"]?.stringValue ?? "once"
            guard ["once", "session"].contains(scope) else {
                throw APIError.badRequest("params.scope must be once or session.")
            }
            let approval = try await kernel.runtime.approvals.resolve(
                Approval.ID(raw),
                grant: method == "approvals.approve",
                scope: scope,
                by: actor
            )
            return approval.json
        default:
            throw APIError(.notFound, "unknown_method", "No method named '\(method)'.")
        }
    }

    func send(_ frame: JSONValue) async throws {
        try await outbound.write(.text(frame.canonicalJSON))
    }

    static func error(_ code: String, _ message: String) -> JSONValue {
        ["code": .string(code), "message": .string(message)]
    }
}
