import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyAgent
import OspreyCore
import OspreyStore
import Synchronization

/// The OpenAI-compatible door: `GET /v1/models` and `POST /v1/chat/completions`, so any OpenAI client talks to an
/// Osprey agent unmodified, with an Osprey token as its API key.
///
/// `model` names an agent (`osprey/<agent>` or the agent's name). A conversation is a session: the
/// `X-Osprey-Session` request header continues one (only the last user message is sent; the session holds the
/// rest), else each request starts a new session, whose id comes back in `X-Osprey-Session`; a new session's earlier
/// messages in the request are given to the agent as the conversation so far. The run is `sessions.send` from the
/// one operation table: the agent's own tools, policy, approvals and budgets; the answer is the assistant message.
/// Tool activity is never a fake `tool_calls`: it comes as SSE comments when streaming, and in the `osprey`
/// extension field otherwise. Errors come in OpenAI's shape (``APIError``).
struct OpenAIController {
    let operations: [String: Operation]
    let agents: [String]
    let sessions: Sessions

    static let sessionHeader = HTTPField.Name("X-Osprey-Session")!

    func add(to routes: inout RouteTable) {
        routes.on(.get, "/v1/models", .role(.viewer)) { _, _ in
            let created = Int(Date().timeIntervalSince1970)
            let data = agents.map { name -> JSONValue in
                ["id": .string("osprey/\(name)"), "object": "model", "created": .int(created), "owned_by": "osprey"]
            }
            return try .json(["object": "list", "data": .array(data)] as JSONValue)
        }
        let maxBytes = routes.maxBodyBytes
        routes.on(.post, "/v1/chat/completions", .role(.operator)) { request, context in
            let body = try await request.body.collect(upTo: maxBytes)
            let json: JSONValue
            do {
                json = try JSONValue.parse(body.readableBytesView)
            } catch {
                throw APIError.badRequest("The body is not valid JSON: \(error)")
            }
            return try await complete(
                json,
                session: request.headers[Self.sessionHeader],
                token: context.token,
                connectionClosed: context.connectionClosed
            )
        }
    }

    /// Refuses parameters of the wrong type or out of OpenAI's documented range with 400, as OpenAI does, instead of
    /// ignoring them: a client that sent `"stream": "yes"` would otherwise get a whole answer it did not ask for. The
    /// sampling parameters are checked but not applied (the agent's own settings in config.toml are).
    static func checkParameters(_ body: JSONValue) throws {
        guard body.objectValue != nil else { throw APIError.badRequest("The body must be a JSON object.") }
        func given(_ name: String) -> JSONValue? { body[name].flatMap { $0 == .null ? nil : $0 } }
        for name in ["stream", "logprobs", "parallel_tool_calls"] {
            if let value = given(name), value.boolValue == nil {
                throw APIError.badRequest("Field '\(name)' must be true or false.")
            }
        }
        if let options = given("stream_options") {
            guard options.objectValue != nil, options["include_usage"].map({ $0.boolValue != nil }) ?? true else {
                throw APIError.badRequest("Field 'stream_options' must be an object whose include_usage is a boolean.")
            }
        }
        for name in ["max_tokens", "max_completion_tokens", "n"] {
            if let value = given(name), (value.intValue ?? 0) < 1 {
                throw APIError.badRequest("Field '\(name)' must be a whole number of at least 1.")
            }
        }
        let ranges: [(String, ClosedRange<Double>)] = [
            ("temperature", 0...2), ("top_p", 0...1), ("presence_penalty", -2...2), ("frequency_penalty", -2...2),
        ]
        for (name, range) in ranges {
            if let value = given(name), !(value.doubleValue.map(range.contains) ?? false) {
                throw APIError.badRequest(
                    "Field '\(name)' must be a number from \(range.lowerBound) to \(range.upperBound)."
                )
            }
        }
    }

    /// The agent a `model` names, or 404 `model_not_found`.
    func agent(for model: String) throws -> String {
        let name = model.hasPrefix("osprey/") ? String(model.dropFirst("osprey/".count)) : model
        guard agents.contains(name) else {
            throw APIError(
                .notFound,
                "model_not_found",
                "The model '\(model)' does not exist; models are agents: \(agents.map { "osprey/\($0)" }.joined(separator: ", "))."
            )
        }
        return name
    }

    /// A message's text: a string, or the text parts of an array.
    static func text(_ content: JSONValue?) throws -> String {
        switch content {
        case .string(let text)?: return text
        case .array(let parts)?:
            return try parts.map { part in
                guard part["type"] == "text", let text = part["text"]?.stringValue else {
                    throw APIError.badRequest("Only text content parts are supported.")
                }
                return text
            }.joined(separator: "\n")
        case .null?, nil: return ""
        default: throw APIError.badRequest("A message's content must be a string or an array of text parts.")
        }
    }

    func complete(
        _ body: JSONValue,
        session header: String?,
        token: TokenRecord?,
        connectionClosed: EventLoopFuture<Void>? = nil
    ) async throws -> Response {
        try Self.checkParameters(body)
        guard let model = body["model"]?.stringValue else { throw APIError.badRequest("Field 'model' is required.") }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            throw APIError.badRequest("Field 'messages' must be a non-empty array.")
        }
        if let n = body["n"]?.intValue, n != 1 { throw APIError.badRequest("Only n = 1 is supported.") }
        let agent = try agent(for: model)
        // Tools the client defines would come back as `tool_calls` for it to run: an agent runs its own instead,
        // so a client that counts on them is told, not left waiting for calls that never come.
        if let tools = (body["tools"] ?? body["functions"])?.arrayValue, !tools.isEmpty {
            throw APIError.badRequest(
                "Client-side tools (tools, functions) are not supported: agent '\(agent)' calls its own tools "
                    + "(config.toml [agents.\(agent)] tools); its tool activity comes back in the 'osprey' field."
            )
        }
        let turns = try messages.map { message -> (role: String, text: String) in
            guard let role = message["role"]?.stringValue else {
                throw APIError.badRequest("Every message needs a role.")
            }
            return (role, try Self.text(message["content"]))
        }
        guard let last = turns.last, last.role == "user", !last.text.isEmpty else {
            throw APIError.badRequest("The last message must be the user's, with text.")
        }
        var door = Caller(token: token)
        door.connectionClosed = connectionClosed
        let caller = door
        let session: Session.ID
        var content = last.text
        if let header {
            session = Session.ID(header)
            let existing = try await sessions.get(session)
            guard existing.agent == agent else {
                throw APIError.badRequest("Session \(header) belongs to agent '\(existing.agent)', not '\(agent)'.")
            }
        } else {
            let created = try await operations.call(
                "sessions.create",
                ["agent": .string(agent), "title": "openai"],
                as: caller
            )
            session = Session.ID(created["id"]?.stringValue ?? "")
            let earlier = turns.dropLast()
            if !earlier.isEmpty {
                // A new session gets the client's conversation so far with its new message.
                let history = earlier.map { "\($0.role): \($0.text)" }.joined(separator: "\n")
                content = "The conversation so far:\n\(history)\n\nNow: \(last.text)"
            }
        }
        let id = "chatcmpl-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(24)
        let created = Int(Date().timeIntervalSince1970)
        var headers: HTTPFields = [Self.sessionHeader: session.rawValue]
        let fields: [String: JSONValue] = ["session": .string(session.rawValue), "content": .string(content)]
        guard body["stream"] == true else {
            let tools = CallLog()
            var listening = caller
            listening.onRunEvent = { _, event in
                if case .toolCall(let call) = event {
                    tools.add([
                        "id": .string(call.id.rawValue), "name": .string(call.name),
                        "arguments": .string(call.arguments),
                    ])
                }
            }
            let summary = try await operations.call("sessions.send", fields, as: listening)
            headers[.contentType] = "application/json"
            let answer: JSONValue = [
                "id": .string(String(id)), "object": "chat.completion", "created": .int(created),
                "model": .string(model),
                "choices": [
                    [
                        "index": 0, "message": ["role": "assistant", "content": summary["response"] ?? ""],
                        "finish_reason": "stop",
                    ]
                ],
                "usage": Self.usage(summary),
                "osprey": [
                    "session": .string(session.rawValue), "tool_calls": .array(tools.calls),
                    "cost_usd": summary["cost_usd"] ?? 0, "turns": summary["turns"] ?? 0,
                ],
            ]
            return Response(
                status: .ok,
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: answer.canonicalJSON))
            )
        }
        let includeUsage = body["stream_options"]?["include_usage"] == true
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let chunk = { @Sendable (delta: JSONValue, finish: JSONValue) -> ByteBuffer in
            let value: JSONValue = [
                "id": .string(String(id)), "object": "chat.completion.chunk", "created": .int(created),
                "model": .string(model), "choices": [["index": 0, "delta": delta, "finish_reason": finish]],
            ]
            return ByteBuffer(string: "data: \(value.canonicalJSON)\n\n")
        }
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { @concurrent writer in
                let (frames, sink) = AsyncStream<ByteBuffer>.makeStream()
                sink.yield(chunk(["role": "assistant", "content": ""], .null))
                var streaming = caller
                streaming.onRunEvent = { _, event in
                    switch event {
                    case .textDelta(let text): sink.yield(chunk(["content": .string(text)], .null))
                    case .toolCall(let call):
                        // Tool activity as SSE comments: clients skip them, a human reading the stream sees them.
                        sink.yield(ByteBuffer(string: ": tool_call \(call.name) \(Self.comment(call.arguments))\n\n"))
                    case .toolResult(let result):
                        let state = result.isError ? "error" : "ok"
                        sink.yield(ByteBuffer(string: ": tool_result \(result.callID.rawValue) \(state)\n\n"))
                    default: break
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { [streaming] in
                        defer { sink.finish() }
                        do {
                            let summary = try await operations.call("sessions.send", fields, as: streaming)
                            sink.yield(chunk([:], "stop"))
                            if includeUsage {
                                let value: JSONValue = [
                                    "id": .string(String(id)), "object": "chat.completion.chunk",
                                    "created": .int(created), "model": .string(model), "choices": [],
                                    "usage": Self.usage(summary),
                                ]
                                sink.yield(ByteBuffer(string: "data: \(value.canonicalJSON)\n\n"))
                            }
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            // Headers are sent: the failure goes in the stream, in OpenAI's error shape.
                            let value = APIError.answering(error).body(openAI: true)
                            sink.yield(ByteBuffer(string: "data: \(value.canonicalJSON)\n\n"))
                        }
                        sink.yield(ByteBuffer(string: "data: [DONE]\n\n"))
                    }
                    // A client that hangs up ends the stream, and the run with it, at once (this stream has no
                    // keep-alive whose write would find the connection gone).
                    group.addTask { [closed = caller.connectionClosed] in
                        await HangUp.wait(closed)
                        sink.finish()
                    }
                    for await frame in frames { try await writer.write(frame) }
                    group.cancelAll()
                }
                try await writer.finish(nil)
            }
        )
    }

    /// One line of a tool call's arguments for an SSE comment (no line breaks, at most 200 characters).
    static func comment(_ text: String) -> String {
        String(text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ").prefix(200))
    }

    static func usage(_ summary: JSONValue) -> JSONValue {
        let input = summary["tokens_in"]?.intValue ?? 0
        let output = summary["tokens_out"]?.intValue ?? 0
        return ["prompt_tokens": .int(input), "completion_tokens": .int(output), "total_tokens": .int(input + output)]
    }
}

/// The tool calls a run made, gathered while it runs.
private final class CallLog: Sendable {
    private let items = Mutex<[JSONValue]>([])
    func add(_ call: JSONValue) { items.withLock { $0.append(call) } }
    var calls: [JSONValue] { items.withLock { $0 } }
}
