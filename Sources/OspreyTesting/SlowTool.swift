public import OspreyCore
public import OspreyTools

/// A tool that takes its time: it waits (cancellably) for 30 s before answering.
public struct SlowTool: Tool {
    public init() {}

    public struct Arguments: Decodable {}

    public var definition: ToolDefinition {
        ToolDefinition(name: "slow", description: "Takes its time.", parameters: ["type": "object"])
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .read) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        try await Task.sleep(for: .seconds(30))
        return "done"
    }
}
