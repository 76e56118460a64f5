public import OspreyCore

/// The Anthropic Messages API: `tool_use`/`tool_result` blocks, a top-level system prompt, its SSE event types.
public struct AnthropicProvider: ModelProvider {
    public let name: String
    /// e.g. `https://api.anthropic.com`; `/v1/messages` is appended.
    public let baseURL: String
    let apiKey: String?
    let transport: HTTPTransport
    static let apiVersion = "2023-06-01"

    public init(name: String, baseURL: String, apiKey: String?, transport: HTTPTransport = .shared) {
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.transport = transport
    }

    public func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply
    {
        var headers = [("anthropic-version", Self.apiVersion)]
        if let apiKey, !apiKey.isEmpty { headers.append(("x-api-key", apiKey)) }
        var stream = AnthropicStream(provider: name)
        _ = try await transport.streamEvents(
            provider: name,
            url: baseURL + "/v1/messages",
            headers: headers,
            body: Self.body(for: request)
        ) { event in
            for modelEvent in try stream.consume(event) { try await onEvent(modelEvent) }
        }
        return try stream.reply()
    }

    static func body(for request: ModelRequest) -> JSONValue {
        var system = request.instructions ?? ""
        var messages: [JSONValue] = []
        // A call cut off from its result (an interrupted run) is answered, not sent dangling: Anthropic answers 400.
        for message in request.messages.pairingToolCalls() {
            switch message.role {
            case .system:
                system += (system.isEmpty ? "" : "\n\n") + message.text
            case .user:
                messages.append(["role": "user", "content": [["type": "text", "text": .string(message.text)]]])
            case .assistant:
                var blocks: [JSONValue] = []
                for part in message.content {
                    switch part {
                    case .text(let text) where !text.isEmpty:
                        blocks.append(["type": "text", "text": .string(text)])
                    case .toolCall(let call):
                        let input = (try? JSONValue.parse(call.arguments)).flatMap { $0.objectValue != nil ? $0 : nil }
                        blocks.append([
                            "type": "tool_use", "id": .string(call.id.rawValue), "name": .string(call.name),
                            "input": input ?? [:],
                        ])
                    default:
                        break
                    }
                }
                messages.append(["role": "assistant", "content": .array(blocks)])
            case .tool:
                let blocks: [JSONValue] = message.content.compactMap { part in
                    guard case .toolResult(let result) = part else { return nil }
                    return [
                        "type": "tool_result", "tool_use_id": .string(result.callID.rawValue),
                        "content": .string(result.output), "is_error": .bool(result.isError),
                    ]
                }
                messages.append(["role": "user", "content": .array(blocks)])
            }
        }
        var body: [String: JSONValue] = [
            "model": .string(request.model), "messages": .array(messages), "max_tokens": .int(request.maxTokens),
            "stream": true,
        ]
        if !system.isEmpty { body["system"] = .string(system) }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        if !request.tools.isEmpty, let choice = request.toolChoice {
            switch choice {
            case "auto": body["tool_choice"] = ["type": "auto"]
            case "required": body["tool_choice"] = ["type": "any"]
            case "none": body["tool_choice"] = ["type": "none"]
            default: body["tool_choice"] = ["type": "tool", "name": .string(choice)]
            }
        }
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map {
                    ["name": .string($0.name), "description": .string($0.description), "input_schema": $0.parameters]
                }
            )
        }
        return .object(body)
    }
}

/// Assembles a streamed Messages reply from its events, with no I/O.
struct AnthropicStream {
    enum Block {
        case text(String)
        case toolUse(id: String, name: String, json: String)
    }

    let provider: String
    var blocks: [Int: Block] = [:]
    var order: [Int] = []
    var usage = Usage()
    var sawUsage = false
    var stopReason: String?
    var stopped = false

    init(provider: String) { self.provider = provider }

    mutating func consume(_ event: ServerSentEvent) throws -> [ModelEvent] {
        let data: JSONValue
        do {
            data = try JSONValue.parse(event.data)
        } catch {
            throw ProviderError.invalidResponse(provider: provider, message: "event data is not JSON: \(error)")
        }
        let type = data["type"]?.stringValue ?? event.event ?? ""
        switch type {
        case "message_start":
            if let reported = data["message"]?["usage"] {
                usage.inputTokens = try ReportedUsage.tokens(
                    reported["input_tokens"],
                    field: "input_tokens",
                    provider: provider
                )
                usage.outputTokens = try ReportedUsage.tokens(
                    reported["output_tokens"],
                    field: "output_tokens",
                    provider: provider
                )
                sawUsage = true
            }
        case "content_block_start":
            let index = data["index"]?.intValue ?? order.count
            let block = data["content_block"] ?? .null
            order.append(index)
            if block["type"] == "tool_use" {
                let id = block["id"]?.stringValue ?? "toolu_\(index)"
                let name = block["name"]?.stringValue ?? ""
                blocks[index] = .toolUse(id: id, name: name, json: "")
                return [.toolCallStarted(id: ToolCall.ID(id), name: name)]
            }
            let initial = block["text"]?.stringValue ?? ""
            blocks[index] = .text(initial)
            return initial.isEmpty ? [] : [.textDelta(initial)]
        case "content_block_delta":
            let index = data["index"]?.intValue ?? 0
            let delta = data["delta"] ?? .null
            switch (blocks[index], delta["type"]?.stringValue) {
            case (.text(let text)?, "text_delta"):
                let piece = delta["text"]?.stringValue ?? ""
                blocks[index] = .text(text + piece)
                return piece.isEmpty ? [] : [.textDelta(piece)]
            case (.toolUse(let id, let name, let json)?, "input_json_delta"):
                blocks[index] = .toolUse(id: id, name: name, json: json + (delta["partial_json"]?.stringValue ?? ""))
            default:
                break
            }
        case "message_delta":
            if let reason = data["delta"]?["stop_reason"]?.stringValue { stopReason = reason }
            if let output = data["usage"]?["output_tokens"], output != .null {
                usage.outputTokens = try ReportedUsage.tokens(output, field: "output_tokens", provider: provider)
                sawUsage = true
            }
        case "message_stop":
            stopped = true
        case "error":
            let error = data["error"] ?? .null
            let kind = error["type"]?.stringValue ?? "error"
            let message = error["message"]?.stringValue ?? kind
            if kind == "rate_limit_error" {
                throw ProviderError.rateLimited(provider: provider, retryAfter: nil, message: message)
            }
            if kind == "authentication_error" || kind == "permission_error" || kind == "invalid_request_error" {
                throw ProviderError.configuration(provider: provider, status: 400, message: message)
            }
            throw ProviderError.server(
                provider: provider,
                status: kind == "overloaded_error" ? 529 : 500,
                message: message
            )
        default:
            break  // ping and future event types
        }
        return []
    }

    func reply() throws -> ModelReply {
        let content: [Content] = order.compactMap { index in
            switch blocks[index] {
            case .text(let text)?: return text.isEmpty ? nil : .text(text)
            case .toolUse(let id, let name, let json)?:
                return .toolCall(ToolCall(id: ToolCall.ID(id), name: name, arguments: json.isEmpty ? "{}" : json))
            case nil: return nil
            }
        }
        guard stopped else {
            throw ProviderError.streamCut(
                provider: provider,
                usage: sawUsage ? usage : nil,
                emittedOutput: !content.isEmpty
            )
        }
        let stop: StopReason
        switch stopReason {
        case "tool_use": stop = .toolUse
        case "max_tokens": stop = .maxTokens
        case "stop_sequence": stop = .stopSequence
        case "refusal": stop = .refusal
        default: stop = .endTurn
        }
        return ModelReply(message: Message(role: .assistant, content: content), usage: usage, stopReason: stop)
    }
}
