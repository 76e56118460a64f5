public import OspreyCore
import Synchronization

/// A model that plays back scripted replies, in order, and records every request it receives.
public final class ScriptedProvider: ModelProvider {
    private let state: Mutex<(replies: [ModelReply], requests: [ModelRequest])>

    public init(replies: [ModelReply]) { state = Mutex((replies, [])) }

    /// Replies that are plain assistant messages, each costing 10 tokens in and 5 out.
    public convenience init(messages: [Message]) {
        self.init(
            replies: messages.map {
                ModelReply(
                    message: $0,
                    usage: Usage(inputTokens: 10, outputTokens: 5),
                    stopReason: $0.toolCalls.isEmpty ? .endTurn : .toolUse
                )
            }
        )
    }

    /// The requests received so far, oldest first.
    public var requests: [ModelRequest] { state.withLock { $0.requests } }

    /// Thrown when the script has no reply left.
    public struct ScriptExhausted: Error {}

    public func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply
    {
        let reply = state.withLock { state -> ModelReply? in
            state.requests.append(request)
            return state.replies.isEmpty ? nil : state.replies.removeFirst()
        }
        guard let reply else { throw ScriptExhausted() }
        for part in reply.message.content {
            switch part {
            case .text(let text):
                for word in text.split(separator: " ", omittingEmptySubsequences: false).enumerated() {
                    try await onEvent(.textDelta((word.offset == 0 ? "" : " ") + word.element))
                }
            case .toolCall(let call):
                try await onEvent(.toolCallStarted(id: call.id, name: call.name))
            case .toolResult:
                break
            }
        }
        return reply
    }
}

extension Message {
    /// An assistant message that calls one tool.
    public static func toolCall(_ name: String, _ arguments: String, id: String = "call_1") -> Message {
        Message(role: .assistant, content: [.toolCall(ToolCall(id: ToolCall.ID(id), name: name, arguments: arguments))])
    }
}
