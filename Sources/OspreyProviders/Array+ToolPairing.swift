public import OspreyCore

extension [Message] {
    /// What a repaired transcript says for a tool call that never got a result.
    public static let unansweredCallOutput =
        "Interrupted: this call never returned a result (the run was stopped or the gateway restarted), so its outcome is unknown. Check its effects before repeating it."

    /// The transcript with every tool call answered right after the assistant message that made it.
    ///
    /// OpenAI and Anthropic refuse (400) a request with a tool call that has no result, or a result that
    /// answers no call. A run cut between a stored call and its result leaves exactly that in a session, so
    /// the drivers send this repaired form: a missing result becomes an error result saying the outcome is
    /// unknown, the results that follow an assistant message are gathered into one tool message in the
    /// order of its calls, and a result that answers no call of the message before it is dropped.
    /// A transcript that needs no repair comes back unchanged.
    public func pairingToolCalls() -> [Message] {
        var repaired: [Message] = []
        repaired.reserveCapacity(count)
        var index = startIndex
        while index < endIndex {
            let message = self[index]
            index += 1
            // A tool message not consumed below answers no call of the message before it.
            guard message.role != .tool else { continue }
            repaired.append(message)
            let calls = message.role == .assistant ? message.toolCalls : []
            guard !calls.isEmpty else { continue }
            var results: [ToolResult] = []
            while index < endIndex, self[index].role == .tool {
                for case .toolResult(let result) in self[index].content { results.append(result) }
                index += 1
            }
            let paired = calls.map { call in
                results.first { $0.callID == call.id }
                    ?? ToolResult(callID: call.id, output: Self.unansweredCallOutput, isError: true)
            }
            repaired.append(Message(role: .tool, content: paired.map(Content.toolResult)))
        }
        return repaired
    }
}
