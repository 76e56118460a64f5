public import OspreyCore

/// Why an agent run stopped without an answer.
public enum AgentError: Error, Hashable, Sendable, CustomStringConvertible {
    case tooManyTurns(Int)
    case timeLimit(seconds: Int)
    case budgetExceeded(String)
    case model(String)

    public var description: String {
        switch self {
        case .tooManyTurns(let turns): "the agent used its \(turns) turns without finishing"
        case .timeLimit(let seconds): "the agent ran out of its \(seconds) s time limit"
        case .budgetExceeded(let reason): "budget exceeded: \(reason)"
        case .model(let reason): reason
        }
    }

    /// The `code` clients see.
    public var code: String {
        switch self {
        case .tooManyTurns: "too_many_turns"
        case .timeLimit: "time_limit"
        case .budgetExceeded: "budget_exceeded"
        case .model: "model_error"
        }
    }
}

/// The agent's decisions, with no I/O: feed it what happened, do what it returns.
public struct AgentLoop: Sendable {
    public enum Action: Hashable, Sendable {
        case callModel([Message])
        case callTools([ToolCall])
        case finish(Message)
        case fail(AgentError)
    }

    public private(set) var transcript: [Message]
    public private(set) var turns = 0
    /// Rounds of tool calls so far.
    public private(set) var toolRounds = 0
    public let maxTurns: Int
    public let maxSeconds: Int

    public init(history: [Message], prompt: Message, maxTurns: Int, maxSeconds: Int) {
        transcript = history + [prompt]
        self.maxTurns = maxTurns
        self.maxSeconds = maxSeconds
    }

    /// The first action: ask the model.
    public mutating func start(elapsedSeconds: Double = 0) -> Action { nextModelCall(elapsedSeconds: elapsedSeconds) }

    /// The model answered: call its tools, or finish with its message.
    public mutating func modelReplied(_ reply: Message, elapsedSeconds: Double) -> Action {
        transcript.append(reply)
        let calls = reply.toolCalls
        guard !calls.isEmpty else { return .finish(reply) }
        guard elapsedSeconds < Double(maxSeconds) else { return .fail(.timeLimit(seconds: maxSeconds)) }
        toolRounds += 1
        return .callTools(calls)
    }

    /// The tools answered: give the results to the model.
    public mutating func toolsReturned(_ results: [ToolResult], elapsedSeconds: Double) -> Action {
        transcript.append(Message(role: .tool, content: results.map(Content.toolResult)))
        return nextModelCall(elapsedSeconds: elapsedSeconds)
    }

    /// Replaces the oldest `count` messages of the transcript with one summary message.
    public mutating func compact(replacingFirst count: Int, with summary: Message) {
        transcript = [summary] + transcript.dropFirst(count)
    }

    private mutating func nextModelCall(elapsedSeconds: Double) -> Action {
        guard turns < maxTurns else { return .fail(.tooManyTurns(maxTurns)) }
        guard elapsedSeconds < Double(maxSeconds) else { return .fail(.timeLimit(seconds: maxSeconds)) }
        turns += 1
        return .callModel(transcript)
    }
}
