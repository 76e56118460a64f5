public import OspreyCore
public import OspreyTools

/// A tool that takes its time: it waits (cancellably) for 30 s before answering.
public struct SlowTool: Tool {
    /// How long a call takes (on the wall clock) unless it is cancelled first.
    let duration: Duration

    public init(taking duration: Duration = .seconds(30)) { self.duration = duration }

    public struct Arguments: Decodable {}

    public var definition: ToolDefinition {
        ToolDefinition(name: "slow", description: "Takes its time.", parameters: ["type": "object"])
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .read) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        try await Task.sleep(for: duration)
        return "done"
    }
}
