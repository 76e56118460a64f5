import Foundation
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore

/// `/api/sessions`: create, list, show, delete, transcript, send.
struct SessionsController {
    let kernel: Kernel

    /// Longest accepted message, in bytes of UTF-8.
    static let maxMessageBytes = 256 * 1024

    func add(to routes: inout RouteTable) {
        routes.on(.post, "/api/sessions", .role(.operator), create)
        routes.on(.get, "/api/sessions", .role(.viewer), list)
        routes.on(.get, "/api/sessions/:id", .role(.viewer), show)
        routes.on(.delete, "/api/sessions/:id", .role(.operator), delete)
        routes.on(.get, "/api/sessions/:id/messages", .role(.viewer), transcript)
        routes.on(.post, "/api/sessions/:id/messages", .role(.operator), send)
        routes.on(.post, "/api/sessions/:id/cancel", .role(.operator), cancel)
    }

    static func id(_ context: GatewayRequestContext) throws -> Session.ID {
        guard let raw = context.parameters.get("id"), !raw.isEmpty else {
            throw APIError.badRequest("Missing session id.")
        }
        return Session.ID(raw)
    }

    @Sendable func create(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await JSONBody.read(
            request,
            maxBytes: kernel.config.gateway.maxBodyBytes,
            allowed: ["agent", "title"]
        )
        let session = try await kernel.store.sessions.create(
            agent: try body.optionalString("agent") ?? "default",
            title: try body.optionalString("title"),
            actor: context.actor
        )
        return try .json(session, status: .created)
    }

    @Sendable func list(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let offset = try request.intQuery("offset", default: 0, range: 0...Int.max)
        return try .json(["sessions": try await kernel.store.sessions.list(limit: limit, offset: offset)])
    }

    @Sendable func show(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try .json(try await kernel.store.sessions.get(try Self.id(context)))
    }

    @Sendable func delete(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try await kernel.store.sessions.delete(try Self.id(context), actor: context.actor)
        return Response(status: .noContent)
    }

    @Sendable func transcript(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let after = try request.intQuery("after", default: 0, range: 0...Int.max)
        let limit = try request.intQuery("limit", default: 1000, range: 1...10_000)
        return try .json([
            "messages": try await kernel.store.sessions.messages(of: try Self.id(context), after: after, limit: limit)
        ])
    }

    /// Runs the session's agent on the message: streams its events as SSE, or answers with the final result.
    @Sendable func send(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await JSONBody.read(request, maxBytes: kernel.config.gateway.maxBodyBytes, allowed: ["content"])
        let content = try body.string("content")
        try Self.validate(content)
        _ = try await kernel.store.sessions.get(id)
        let runner = AgentRunner(kernel: kernel)
        let actor = context.actor
        guard request.wantsEventStream else {
            let result = try await runner.run(session: id, content: content, actor: actor) { _ in }
            return try .json(AgentRunner.summary(result))
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { @concurrent writer in
                let (frames, sink) = AsyncStream<ByteBuffer>.makeStream()
                // The run writes frames into a stream the response drains: deltas reach the client as they arrive.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        defer { sink.finish() }
                        do {
                            let result = try await runner.run(session: id, content: content, actor: actor) { event in
                                let (type, data) = AgentRunner.frame(event)
                                sink.yield(
                                    ByteBuffer(string: ServerSentEvent(event: type, data: data.canonicalJSON).encoded)
                                )
                            }
                            let done = ServerSentEvent(event: "done", data: AgentRunner.summary(result).canonicalJSON)
                            sink.yield(ByteBuffer(string: done.encoded))
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            let apiError =
                                APIError.from(error)
                                ?? APIError(.internalServerError, "internal_error", "Internal error.")
                            let data: JSONValue = [
                                "error": ["code": .string(apiError.code), "message": .string(apiError.message)]
                            ]
                            sink.yield(
                                ByteBuffer(string: ServerSentEvent(event: "error", data: data.canonicalJSON).encoded)
                            )
                        }
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
    @Sendable func cancel(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let id = try Self.id(context)
        _ = try await kernel.store.sessions.get(id)
        guard kernel.runtime.runs.cancel(id.rawValue) else {
            throw APIError(.notFound, "not_running", "Session \(id) has no run in progress.")
        }
        return Response(status: .accepted)
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
