import Foundation
public import OspreyCore

/// Keeps a prompt under its token budget: estimates its size and, past the threshold, says which older
/// messages to fold into a summary, and writes a deterministic checkpoint of them that needs no model.
public struct ContextGuard: Hashable, Sendable {
    /// Estimated prompt tokens past which older turns are compacted.
    public var threshold: Int
    /// How many of the newest messages are always kept verbatim.
    public var keepRecent: Int

    public init(threshold: Int, keepRecent: Int = 6) {
        self.threshold = threshold
        self.keepRecent = keepRecent
    }

    /// A cheap, conservative token estimate: about 4 bytes of UTF-8 a token, plus overhead a message.
    public static func estimate(_ messages: [Message], instructions: String? = nil, tools: [ToolDefinition] = []) -> Int
    {
        var bytes = instructions?.utf8.count ?? 0
        for tool in tools {
            bytes += tool.name.utf8.count + tool.description.utf8.count + tool.parameters.canonicalJSON.utf8.count
        }
        for message in messages {
            bytes += 16
            for part in message.content {
                switch part {
                case .text(let text): bytes += text.utf8.count
                case .toolCall(let call): bytes += call.name.utf8.count + call.arguments.utf8.count + 16
                case .toolResult(let result): bytes += result.output.utf8.count + 16
                }
            }
        }
        return bytes / 4 + 1
    }

    /// How many leading messages to compact, or nil when the prompt fits. Never separates a tool call from its result.
    public func compactionCount(_ messages: [Message], instructions: String?, tools: [ToolDefinition]) -> Int? {
        guard Self.estimate(messages, instructions: instructions, tools: tools) > threshold,
            messages.count > keepRecent + 1
        else {
            return nil
        }
        var cut = messages.count - keepRecent
        // A tool result must stay with the assistant message that asked for it.
        while cut > 0, messages[cut].role == .tool { cut -= 1 }
        return cut > 1 ? cut : nil
    }

    /// What the compacted messages did, extracted without a model: requests, files touched, commands, failures.
    public static func checkpoint(_ messages: [Message]) -> String { Checkpoint(messages).text }
}
