public import OspreyCore

/// The OpenAI Chat Completions wire format, spoken by OpenAI, Ollama, llama.cpp, vLLM, Mistral and OpenRouter.
public struct OpenAIProvider: ModelProvider {
    public let name: String
    /// Up to and including `/v1`, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    public let baseURL: String
    let apiKey: String?
    let transport: HTTPTransport
    /// Send tool results as user messages instead of `role: tool` messages.
    ///
    /// Some OpenAI-compatible servers accept `tool` messages but drop them when they render the prompt
    /// (llama-cpp-python's `chatml-function-calling` template does), so the model never sees the result.
    public let toolResultsAsUser: Bool
    /// Ask for a streamed reply. Off for servers that cannot stream a reply that may call tools
    /// (llama-cpp-python refuses "automatic streaming tool choice"): the reply then arrives whole.
    public let streaming: Bool

    public init(
        name: String,
        baseURL: String,
        apiKey: String?,
        toolResultsAsUser: Bool = false,
        streaming: Bool = true,
        transport: HTTPTransport = .shared
    ) {
        self.streaming = streaming
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.toolResultsAsUser = toolResultsAsUser
        self.transport = transport
    }

    public func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply
    {
        var headers: [(String, String)] = []
        if let apiKey, !apiKey.isEmpty { headers.append(("Authorization", "Bearer \(apiKey)")) }
        var stream = OpenAIStream(provider: name)
        var body = Self.body(for: request, toolResultsAsUser: toolResultsAsUser)
        // Encoded once: measured for the estimate, and sent.
        let encoded = body.canonicalBytes
        stream.promptEstimate = encoded.count / 4 + 1
        if !streaming, case .object(var members) = body {
            members["stream"] = false
            members["stream_options"] = nil
            body = .object(members)
            let answer = try await transport.postJSON(
                provider: name,
                url: baseURL + "/chat/completions",
                headers: headers,
                body: body
            )
            try await Self.consume(whole: answer, into: &stream, onEvent: onEvent)
            return try stream.reply(cleanEnd: true)
        }
        let clean = try await transport.streamEvents(
            provider: name,
            url: baseURL + "/chat/completions",
            headers: headers,
            encoded: encoded,
            // A server that ignores `stream` answers whole: taken as if asked so.
            whole: { answer in try await Self.consume(whole: answer, into: &stream, onEvent: onEvent) },
            onEvent: { event in for modelEvent in try stream.consume(event) { try await onEvent(modelEvent) } }
        )
        return try stream.reply(cleanEnd: clean)
    }

    /// A whole reply is one chunk whose choices carry `message` instead of `delta`, and the end of the stream.
    static func consume(
        whole answer: JSONValue,
        into stream: inout OpenAIStream,
        onEvent: (ModelEvent) async throws -> Void
    ) async throws {
        for event in try stream.consume(ServerSentEvent(data: answer.canonicalJSON)) { try await onEvent(event) }
        stream.done = true
    }

    /// The request body in OpenAI's format.
    static func body(for request: ModelRequest, toolResultsAsUser: Bool = false) -> JSONValue {
        var messages: [JSONValue] = []
        if let instructions = request.instructions, !instructions.isEmpty {
            messages.append(["role": "system", "content": .string(instructions)])
        }
        // A call cut off from its result (an interrupted run) is answered, not sent dangling: OpenAI answers 400.
        let transcript = request.messages.pairingToolCalls()
        for message in transcript {
            switch message.role {
            case .system:
                messages.append(["role": "system", "content": .string(message.text)])
            case .user:
                messages.append(["role": "user", "content": .string(message.text)])
            case .assistant:
                var entry: [String: JSONValue] = ["role": "assistant"]
                // An empty string, not null: OpenAI accepts both, llama-cpp-python rejects null with a 500.
                entry["content"] = .string(message.text)
                let calls = message.toolCalls
                if !calls.isEmpty {
                    entry["tool_calls"] = .array(
                        calls.map { call in
                            [
                                "id": .string(call.id.rawValue), "type": "function",
                                "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                            ]
                        }
                    )
                }
                messages.append(.object(entry))
            case .tool where toolResultsAsUser:
                let calls = transcript.flatMap(\.toolCalls)
                let text = message.content.compactMap { part -> String? in
                    guard case .toolResult(let result) = part else { return nil }
                    let name = calls.first { $0.id == result.callID }?.name ?? "tool"
                    return "Result of \(name)\(result.isError ? " (error)" : ""):\n\(result.output)"
                }.joined(separator: "\n\n")
                messages.append(["role": "user", "content": .string(text)])
            case .tool:
                for case .toolResult(let result) in message.content {
                    messages.append(
                        [
                            "role": "tool", "tool_call_id": .string(result.callID.rawValue),
                            "content": .string(result.output),
                        ])
                }
            }
        }
        var body: [String: JSONValue] = [
            "model": .string(request.model), "messages": .array(messages), "stream": true,
            "stream_options": ["include_usage": true], "max_tokens": .int(request.maxTokens),
        ]
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        if !request.tools.isEmpty {
            // "auto" is OpenAI's default, but llama.cpp's server ignores the tools without it: always say it.
            let choice = request.toolChoice ?? "auto"
            switch choice {
            case "auto", "required", "none": body["tool_choice"] = .string(choice)
            default: body["tool_choice"] = ["type": "function", "function": ["name": .string(choice)]]
            }
        }
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    [
                        "type": "function",
                        "function": [
                            "name": .string(tool.name), "description": .string(tool.description),
                            "parameters": tool.parameters,
                        ],
                    ]
                }
            )
        }
        return .object(body)
    }
}

/// Assembles a streamed Chat Completions reply from its chunks, with no I/O.
struct OpenAIStream {
    let provider: String
    var text = ""
    /// Tool calls by their stream index, in first-seen order.
    var calls: [(index: Int, id: String, name: String, arguments: String)] = []
    var finishReason: String?
    var usage: Usage?
    var done = false
    /// Events taken, and whether any carried a choice: an answer with neither is no reply at all.
    var events = 0
    var sawChoice = false

    init(provider: String) { self.provider = provider }

    /// Applies one server-sent event; returns what to tell the listener.
    mutating func consume(_ event: ServerSentEvent) throws -> [ModelEvent] {
        events += 1
        if event.data == "[DONE]" {
            done = true
            return []
        }
        let chunk: JSONValue
        do {
            chunk = try JSONValue.parse(event.data)
        } catch {
            throw ProviderError.invalidResponse(provider: provider, message: "stream chunk is not JSON: \(error)")
        }
        if let error = chunk["error"] {
            throw ProviderError.server(
                provider: provider,
                status: error["code"]?.intValue ?? 500,
                message: error["message"]?.stringValue ?? error.canonicalJSON
            )
        }
        if let reported = chunk["usage"], reported != .null {
            usage = Usage(
                inputTokens: try ReportedUsage.tokens(
                    reported["prompt_tokens"],
                    field: "prompt_tokens",
                    provider: provider
                ),
                outputTokens: try ReportedUsage.tokens(
                    reported["completion_tokens"],
                    field: "completion_tokens",
                    provider: provider
                )
            )
        }
        var events: [ModelEvent] = []
        for choice in chunk["choices"]?.arrayValue ?? [] {
            sawChoice = true
            if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
            let delta = choice["delta"] ?? choice["message"] ?? .null
            if let content = delta["content"]?.stringValue, !content.isEmpty {
                text += content
                events.append(.textDelta(content))
            }
            for (position, call) in (delta["tool_calls"]?.arrayValue ?? []).enumerated() {
                let index = call["index"]?.intValue ?? position
                if let slot = calls.firstIndex(where: { $0.index == index }) {
                    if let id = call["id"]?.stringValue, !id.isEmpty { calls[slot].id = id }
                    // OpenAI sends the name once; llama.cpp repeats it in every chunk. Keep the first.
                    if let name = call["function"]?["name"]?.stringValue, calls[slot].name.isEmpty {
                        calls[slot].name = name
                    }
                    calls[slot].arguments += call["function"]?["arguments"]?.stringValue ?? ""
                } else {
                    let id = call["id"]?.stringValue ?? "call_\(index)"
                    let name = call["function"]?["name"]?.stringValue ?? ""
                    calls.append((index, id, name, call["function"]?["arguments"]?.stringValue ?? ""))
                    events.append(.toolCallStarted(id: ToolCall.ID(id), name: name))
                }
            }
        }
        return events
    }

    /// The assembled reply, or ``ProviderError/streamCut(provider:usage:emittedOutput:)`` if it never finished.
    /// Set by the driver: the request's estimated size in tokens, for servers that report no usage.
    var promptEstimate = 0

    /// Servers that report no usage (llama.cpp's stream) are metered by estimate, so budgets still hold.
    var estimatedUsage: Usage {
        let output = text.utf8.count + calls.reduce(0) { $0 + $1.name.utf8.count + $1.arguments.utf8.count }
        return Usage(inputTokens: promptEstimate, outputTokens: output / 4 + 1)
    }

    func reply(cleanEnd: Bool) throws -> ModelReply {
        if cleanEnd && events == 0 {
            throw ProviderError.invalidResponse(provider: provider, message: "its answer held no server-sent events")
        }
        if done && !sawChoice {
            throw ProviderError.invalidResponse(provider: provider, message: "its answer held no choices")
        }
        guard done || finishReason != nil else {
            throw ProviderError.streamCut(
                provider: provider,
                usage: usage,
                emittedOutput: !text.isEmpty || !calls.isEmpty
            )
        }
        var content: [Content] = []
        if !text.isEmpty { content.append(.text(text)) }
        for call in calls {
            content.append(.toolCall(ToolCall(id: ToolCall.ID(call.id), name: call.name, arguments: call.arguments)))
        }
        let stop: StopReason
        switch finishReason {
        case "tool_calls", "function_call": stop = .toolUse
        case "length": stop = .maxTokens
        case "content_filter": stop = .refusal
        default: stop = calls.isEmpty ? .endTurn : .toolUse
        }
        return ModelReply(
            message: Message(role: .assistant, content: content),
            usage: usage ?? estimatedUsage,
            stopReason: stop
        )
    }
}
