import Foundation
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore
import OspreyTools

/// `/api/sessions`: create, list, show, delete, transcript, send, cancel.
struct SessionsController {
    let sessions: Sessions
    let runner: AgentRunner
    let runs: RunRegistry

    /// Longest accepted message, in bytes of UTF-8.
    static let maxMessageBytes = 256 * 1024

    var operations: [Operation] { [create, list, show, delete, transcript, send, cancel] }

    func add(to routes: inout RouteTable) {
        let id = ["id": "session"]
        routes.bind(.post, "/api/sessions", create, body: true, status: { _ in .created })
        routes.bind(.get, "/api/sessions", list, query: ["limit", "offset"])
        routes.bind(.get, "/api/sessions/:id", show, parameters: id)
        routes.bind(.delete, "/api/sessions/:id", delete, parameters: id, status: { _ in .noContent })
        routes.bind(.get, "/api/sessions/:id/messages", transcript, parameters: id, query: ["after", "limit"])
        routes.bind(
            .post,
            "/api/sessions/:id/messages",
            send,
            parameters: id,
            body: true,
            eventStream: { fields, caller in try await stream(fields, caller: caller) }
        )
        routes.bind(.post, "/api/sessions/:id/cancel", cancel, parameters: id, status: { _ in .accepted })
    }

    struct Create: OperationRequest {
        static let fields: Set<String> = ["agent", "title", "persona"]
        let agent: String
        let title: String?
        let persona: String?
        init(_ fields: Fields) throws {
            agent = try fields.optionalString("agent") ?? "default"
            title = try fields.optionalString("title")
            persona = try fields.optionalString("persona")
        }
    }

    var create: Operation {
        Operation("sessions.create", role: .operator) { (request: Create, caller) in
            if let persona = request.persona, runner.runtime.personas.persona(named: persona) == nil {
                throw APIError.badRequest("No persona named '\(persona)'.")
            }
            return try JSONValue(
                encoding: try await sessions.create(
                    agent: request.agent,
                    title: request.title,
                    persona: request.persona,
                    actor: caller.actor
                )
            )
        }
    }

    struct List: OperationRequest {
        static let fields: Set<String> = ["limit", "offset"]
        let limit: Int
        let offset: Int
        init(_ fields: Fields) throws {
            limit = try fields.int("limit", default: 100, range: 1...1000)
            offset = try fields.int("offset", default: 0, range: 0...Int.max)
        }
    }

    var list: Operation {
        Operation("sessions.list", role: .viewer) { (request: List, _) in
            ["sessions": try JSONValue(encoding: try await sessions.list(limit: request.limit, offset: request.offset))]
        }
    }

    var show: Operation {
        Operation("sessions.get", role: .viewer) { (request: SessionRef, _) in
            try JSONValue(encoding: try await sessions.get(request.session))
        }
    }

    var delete: Operation {
        Operation("sessions.delete", role: .operator) { (request: SessionRef, caller) in
            try await sessions.delete(request.session, actor: caller.actor)
            // A run in progress on it stops: what it would still write has no session to go to, and the model
            // calls it would make are paid for nothing. One another gateway runs is asked to stop, as by a cancel.
            if !runs.cancel(request.session), try await runs.runsElsewhere(request.session) {
                try await runner.ledger.append(
                    EventDraft(type: .runCancelRequested, actor: caller.actor, session: request.session)
                )
            }
            return ["deleted": true]
        }
    }

    struct Transcript: OperationRequest {
        static let fields: Set<String> = ["session", "after", "limit"]
        let session: Session.ID
        let after: Int
        let limit: Int
        init(_ fields: Fields) throws {
            session = Session.ID(try fields.string("session"))
            after = try fields.int("after", default: 0, range: 0...Int.max)
            limit = try fields.int("limit", default: 1000, range: 1...10_000)
        }
    }

    var transcript: Operation {
        Operation("sessions.messages", role: .viewer) { (request: Transcript, _) in
            let messages = try await sessions.messages(of: request.session, after: request.after, limit: request.limit)
            return ["messages": try JSONValue(encoding: messages)]
        }
    }

    struct Send: OperationRequest {
        static let fields: Set<String> = ["session", "content"]
        let session: Session.ID
        let content: String
        init(_ fields: Fields) throws {
            session = Session.ID(try fields.string("session"))
            content = try fields.string("content")
            try SessionsController.validate(content)
        }
    }

    /// Runs the session's agent on the message and answers with the final result; progress goes to the caller.
    var send: Operation {
        let runner = self.runner
        return Operation("sessions.send", role: .operator) { (request: Send, caller) in
            let result = try await runner.run(
                session: request.session,
                content: request.content,
                actor: caller.actor,
                tainted: caller.untrusted
            ) {
                event in try await caller.onRunEvent(request.session, event)
            }
            return AgentRunner.summary(result)
        }
    }

    /// `sessions.send` as server-sent events: the run's events as they happen, then `done` (or `error`).
    ///
    /// The request is decoded and the session looked up first, so those failures are still plain HTTP errors; the run
    /// takes the session as read here (``AgentRunner/admitted``).
    func stream(_ fields: Fields, caller: Caller) async throws -> Response {
        let request = try Send(fields.strict(Send.fields))
        let admitted = try await sessions.get(request.session)
        let send = self.send
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { @concurrent writer in
                let (frames, sink) = AsyncStream<ByteBuffer>.makeStream()
                var caller = caller
                caller.onRunEvent = { _, event in
                    let (type, data) = AgentRunner.frame(event)
                    sink.yield(ByteBuffer(string: ServerSentEvent(event: type, data: data.canonicalJSON).encoded))
                }
                // The run writes frames into a stream the response drains: deltas reach the client as they arrive.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { [caller] in
                        defer { sink.finish() }
                        do {
                            let summary = try await AgentRunner.$admitted.withValue(admitted) {
                                try await send.call(fields, caller: caller)
                            }
                            sink.yield(
                                ByteBuffer(string: ServerSentEvent(event: "done", data: summary.canonicalJSON).encoded)
                            )
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            let data = APIError.answering(error).body()
                            sink.yield(
                                ByteBuffer(string: ServerSentEvent(event: "error", data: data.canonicalJSON).encoded)
                            )
                        }
                    }
                    // A client that hangs up ends the stream, and the run with it, at once: a silent model's call
                    // would otherwise go on, paid for, until the next keep-alive found the connection gone.
                    group.addTask { [closed = caller.connectionClosed] in
                        await HangUp.wait(closed)
                        sink.finish()
                    }
                    // A slow model or tool can be silent for minutes: comments keep proxies and clients from timing out.
                    group.addTask {
                        while true {
                            try await Task.sleep(for: EventsController.keepAlive)
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

    /// Cancels the run in progress on a session.
    var cancel: Operation {
        Operation("sessions.cancel", role: .operator) { (request: SessionRef, caller) in
            _ = try await sessions.get(request.session)
            if runs.cancel(request.session) { return ["cancelled": true] }
            // Another gateway on the same database runs it: ask it through the ledger, and wait for its answer.
            guard try await runs.runsElsewhere(request.session) else {
                throw APIError(.notFound, "not_running", "Session \(request.session) has no run in progress.")
            }
            let ledger = runner.ledger
            let answered = ledger.bus.subscribe {
                $0.session == request.session && [.runCancelled, .runFailed, .runInterrupted].contains($0.type)
            }
            try await ledger.append(
                EventDraft(type: .runCancelRequested, actor: caller.actor, session: request.session)
            )
            let cancelled = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await event in answered { return event.type == .runCancelled }
                    return false
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(10))
                    return false
                }
                defer { group.cancelAll() }
                return try await group.next() ?? false
            }
            guard cancelled else {
                throw APIError(
                    .conflict,
                    "not_cancelled",
                    "Session \(request.session)'s run on another gateway did not stop within 10 s."
                )
            }
            return ["cancelled": true]
        }
    }

    static func validate(_ content: String) throws {
        guard !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.badRequest("Field 'content' must not be empty.")
        }
        guard content.utf8.count <= maxMessageBytes else {
            throw APIError(.contentTooLarge, "payload_too_large", "Message is longer than \(maxMessageBytes) bytes.")
        }
    }

}
