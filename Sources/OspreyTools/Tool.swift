public import Foundation
public import OspreyCore
public import OspreySandbox

/// What a tool call may touch: the workspace, the session it runs for, and its limits.
public struct ToolContext: Sendable {
    public var workspace: Workspace
    public var agent: String
    public var sessionID: String?
    /// Longest a command may run.
    public var commandTimeout: Duration
    /// Most bytes of output a tool returns to the model.
    public var outputLimit: Int
    /// What commands may run at all; checked for every command of every line before anything starts.
    public var commandPolicy: CommandPolicy
    /// The OS sandbox rung every command runs under.
    public var sandbox: Sandbox
    /// Where network tools may connect (deny by default).
    public var egress: EgressPolicy

    public init(
        workspace: Workspace,
        agent: String = "default",
        sessionID: String? = nil,
        commandTimeout: Duration = .seconds(60),
        outputLimit: Int = 64 * 1024,
        commandPolicy: CommandPolicy = CommandPolicy(),
        sandbox: Sandbox = Sandbox(rung: .process),
        egress: EgressPolicy = EgressPolicy()
    ) {
        self.commandPolicy = commandPolicy
        self.sandbox = sandbox
        self.egress = egress
        self.workspace = workspace
        self.agent = agent
        self.sessionID = sessionID
        self.commandTimeout = commandTimeout
        self.outputLimit = outputLimit
    }
}

/// Something the model can ask the gateway to do, with typed arguments decoded at the edge.
///
/// ```swift
/// struct Echo: Tool {
///     struct Arguments: Decodable { var text: String }
///     var definition: ToolDefinition { ToolDefinition(name: "echo", description: "Echo text.", parameters: [:]) }
///     func call(_ arguments: Arguments, context: ToolContext) async throws -> String { arguments.text }
/// }
/// ```
public protocol Tool: Sendable {
    associatedtype Arguments: Decodable
    var definition: ToolDefinition { get }
    func call(_ arguments: Arguments, context: ToolContext) async throws -> String
}

/// A mistake in the model's arguments, explained so it can correct itself.
public struct ToolArgumentError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
}

extension Tool {
    /// Decodes the model's JSON arguments strictly (duplicate keys refused) and calls the tool.
    func invoke(_ json: String, context: ToolContext) async throws -> String {
        let value: JSONValue
        do {
            value = try JSONValue.parse(json.isEmpty ? "{}" : json)
        } catch {
            throw ToolArgumentError(description: "Arguments for \(definition.name) are not valid JSON: \(error)")
        }
        guard value.objectValue != nil else {
            throw ToolArgumentError(description: "Arguments for \(definition.name) must be a JSON object.")
        }
        let arguments: Arguments
        do {
            arguments = try value.decode(as: Arguments.self)
        } catch let error as DecodingError {
            throw ToolArgumentError(description: "Invalid arguments for \(definition.name): \(Self.explain(error))")
        }
        return try await call(arguments, context: context)
    }

    static func explain(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing required field '\(key.stringValue)'"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' must be \(type)"
        case .dataCorrupted(let context): context.debugDescription
        @unknown default: "\(error)"
        }
    }
}

/// The tools an agent may call, and the one place every call goes through.
public struct Toolbox: Sendable {
    private let tools: [String: any Tool]
    /// Names in registration order, for a stable tool list in requests.
    private let order: [String]

    public init(_ tools: [any Tool]) {
        var table: [String: any Tool] = [:]
        var order: [String] = []
        for tool in tools where table[tool.definition.name] == nil {
            table[tool.definition.name] = tool
            order.append(tool.definition.name)
        }
        self.tools = table
        self.order = order
    }

    /// The built-in file and shell tools.
    public static var builtIn: Toolbox {
        Toolbox([ReadFile(), WriteFile(), EditFile(), ListDirectory(), Glob(), Grep(), RunCommand(), HTTPFetch()])
    }

    /// Only the tools named in `allowed` (deny by default: an unknown name grants nothing).
    public func restricted(to allowed: [String]) -> Toolbox {
        Toolbox(order.filter { allowed.contains($0) }.compactMap { tools[$0] })
    }

    public var definitions: [ToolDefinition] { order.compactMap { tools[$0]?.definition } }
    public var names: [String] { order }

    /// Calls the tool `call` names.
    ///
    /// The model chose the tool and wrote the arguments, so its mistakes (an unknown name, arguments that
    /// don't decode, a path outside the workspace, a tool that throws) come back as an error result for
    /// the model to read. Only cancellation propagates.
    public func call(_ call: ToolCall, context: ToolContext) async throws -> ToolResult {
        guard let tool = tools[call.name] else {
            let known = order.joined(separator: ", ")
            return ToolResult(
                callID: call.id,
                output: "No tool named '\(call.name)'. Available tools: \(known).",
                isError: true
            )
        }
        do {
            let output = try await tool.invoke(call.arguments, context: context)
            return ToolResult(callID: call.id, output: Self.cap(output, context.outputLimit))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return ToolResult(callID: call.id, output: "\(error)", isError: true)
        }
    }

    /// Calls several tools concurrently; results come back in the order of the calls.
    public func callAll(_ calls: [ToolCall], context: ToolContext) async throws -> [ToolResult] {
        try await withThrowingTaskGroup(of: (Int, ToolResult).self) { group in
            for (index, call) in calls.enumerated() {
                group.addTask { (index, try await self.call(call, context: context)) }
            }
            var results = [ToolResult?](repeating: nil, count: calls.count)
            for try await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
    }

    static func cap(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        let prefix = String(decoding: text.utf8.prefix(limit), as: UTF8.self)
        return prefix + "\n[output truncated at \(limit) bytes]"
    }
}
