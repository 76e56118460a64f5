public import Foundation

/// Who wrote a message.
public enum Role: String, Hashable, Codable, Sendable {
    case system
    case user
    case assistant
    case tool
}

/// A request from the model to run a tool.
public struct ToolCall: Hashable, Codable, Sendable {
    public typealias ID = Identifier<ToolCall>
    public var id: ID
    public var name: String
    /// The arguments exactly as the model wrote them (JSON text); decoded, strictly, at the tool's edge.
    public var arguments: String

    public init(id: ID, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// A tool's answer to one call.
public struct ToolResult: Hashable, Sendable {
    public var callID: ToolCall.ID
    public var output: String
    public var isError: Bool
    /// The output came from outside the trust boundary (network, files outside the workspace, MCP, plugins):
    /// data for the model, never instructions, and it taints the turns that follow.
    public var untrusted: Bool

    public init(callID: ToolCall.ID, output: String, isError: Bool = false, untrusted: Bool = false) {
        self.callID = callID
        self.output = output
        self.isError = isError
        self.untrusted = untrusted
    }
}

extension ToolResult: Codable {
    private enum CodingKeys: String, CodingKey {
        case callID = "call_id"
        case output
        case isError = "is_error"
        case untrusted
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            callID: try container.decode(ToolCall.ID.self, forKey: .callID),
            output: try container.decode(String.self, forKey: .output),
            isError: try container.decodeIfPresent(Bool.self, forKey: .isError) ?? false,
            untrusted: try container.decodeIfPresent(Bool.self, forKey: .untrusted) ?? false
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(callID, forKey: .callID)
        try container.encode(output, forKey: .output)
        try container.encode(isError, forKey: .isError)
        if untrusted { try container.encode(true, forKey: .untrusted) }
    }
}

/// A piece of a message: text, a request to call a tool, or a tool's answer.
public enum Content: Hashable, Sendable {
    case text(String)
    case toolCall(ToolCall)
    case toolResult(ToolResult)
}

/// Stored and sent as `{"type":"text","text":"…"}`, `{"type":"tool_call",…}`, `{"type":"tool_result",…}`.
extension Content: Codable {
    private enum CodingKeys: String, CodingKey {
        case type, text
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "text":
            self = .text(try container.decode(String.self, forKey: .text))
        // A call's and a result's fields sit beside `type`, in their own types' coding.
        case "tool_call": self = .toolCall(try ToolCall(from: decoder))
        case "tool_result": self = .toolResult(try ToolResult(from: decoder))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: container,
                debugDescription: "Unknown content type '\(other)'"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .text(let text):
            try container.encode("text", forKey: .type)
            try container.encode(text, forKey: .text)
        case .toolCall(let call):
            try container.encode("tool_call", forKey: .type)
            try call.encode(to: encoder)
        case .toolResult(let result):
            try container.encode("tool_result", forKey: .type)
            try result.encode(to: encoder)
        }
    }
}

extension Content {
    /// The JSON its `Codable` form encodes, built directly: every stored message is written to its row and its event
    /// as JSON, and each model reply is sent to the client as one (`MessageJSONTests` holds the two forms equal).
    public var jsonValue: JSONValue {
        switch self {
        case .text(let text):
            return ["type": "text", "text": .string(text)]
        case .toolCall(let call):
            return [
                "type": "tool_call", "id": .string(call.id.rawValue), "name": .string(call.name),
                "arguments": .string(call.arguments),
            ]
        case .toolResult(let result):
            var object: [String: JSONValue] = [
                "type": "tool_result", "call_id": .string(result.callID.rawValue), "output": .string(result.output),
                "is_error": .bool(result.isError),
            ]
            if result.untrusted { object["untrusted"] = true }
            return .object(object)
        }
    }
}

/// One turn of a conversation.
public struct Message: Hashable, Codable, Sendable {
    public var role: Role
    public var content: [Content]

    public init(role: Role, content: [Content]) {
        self.role = role
        self.content = content
    }

    public static func user(_ text: String) -> Message { Message(role: .user, content: [.text(text)]) }
    public static func assistant(_ text: String) -> Message { Message(role: .assistant, content: [.text(text)]) }
    public static func system(_ text: String) -> Message { Message(role: .system, content: [.text(text)]) }

    /// The JSON its `Codable` form encodes, built directly (see ``Content/jsonValue``).
    public var jsonValue: JSONValue {
        ["role": .string(role.rawValue), "content": .array(content.map(\.jsonValue))]
    }

    /// The text parts, joined.
    public var text: String {
        content.compactMap { if case .text(let text) = $0 { text } else { nil } }.joined()
    }

    /// The tool calls this message asks for, in order.
    public var toolCalls: [ToolCall] {
        content.compactMap { if case .toolCall(let call) = $0 { call } else { nil } }
    }

    /// The tool results this message carries, in order.
    public var toolResults: [ToolResult] {
        content.compactMap { if case .toolResult(let result) = $0 { result } else { nil } }
    }
}

/// A conversation with an agent, as listed and shown by the API.
public struct Session: Hashable, Codable, Sendable {
    public typealias ID = Identifier<Session>

    public var id: ID
    public var agent: String
    public var title: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var messageCount: Int
    /// The persona the session's runs act in; nil for the agent as configured.
    public var persona: String?

    public init(
        id: ID,
        agent: String,
        title: String?,
        createdAt: Date,
        updatedAt: Date,
        messageCount: Int = 0,
        persona: String? = nil
    ) {
        self.id = id
        self.agent = agent
        self.title = title
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.messageCount = messageCount
        self.persona = persona
    }

    private enum CodingKeys: String, CodingKey {
        case id, agent, title, persona
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case messageCount = "message_count"
    }
}

/// A message as stored in a session's transcript.
public struct StoredMessage: Hashable, Codable, Sendable {
    public var seq: Int
    public var sessionID: Session.ID
    public var message: Message
    public var createdAt: Date

    public init(seq: Int, sessionID: Session.ID, message: Message, createdAt: Date) {
        self.seq = seq
        self.sessionID = sessionID
        self.message = message
        self.createdAt = createdAt
    }

    private enum CodingKeys: String, CodingKey {
        case seq
        case sessionID = "session_id"
        case message
        case createdAt = "created_at"
    }
}
