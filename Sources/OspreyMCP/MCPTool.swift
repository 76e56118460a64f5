public import OspreyCore
public import OspreyTools

/// One tool of a connected MCP server, offered to agents as `server__tool`.
///
/// What the server says is a hint from another party: its description reaches the model fenced as data, its
/// annotations are ignored, and the policy judges every call as network access (a tainted run needs a human for
/// it). The output of a server not marked `trusted` is untrusted content: fenced, and it taints the run.
public struct MCPTool: Tool {
    public typealias Arguments = JSONValue

    let client: MCPClient
    let remoteName: String
    let trusted: Bool
    public let definition: ToolDefinition

    public init(client: MCPClient, tool: MCPClient.RemoteTool, name: String, trusted: Bool) {
        self.client = client
        self.remoteName = tool.name
        self.trusted = trusted
        let server = client.configuration.name
        let summary = String(tool.description.prefix(1024))
        var schema = tool.inputSchema
        if schema.objectValue == nil { schema = ["type": "object"] }
        definition = ToolDefinition(
            name: name,
            description: ToolDefinition.quoting(
                "Tool '\(tool.name)' of the MCP server '\(server)' (\(trusted ? "trusted" : "untrusted")).",
                "Its own description",
                from: "that server",
                summary
            ),
            parameters: schema
        )
    }

    public func assess(_ arguments: JSONValue, context: ToolContext) -> ToolAssessment {
        ToolAssessment(risk: .network, untrustedOutput: !trusted)
    }

    public func call(_ arguments: JSONValue, context: ToolContext) async throws -> String {
        do {
            var progress: (@Sendable (String) -> Void)?
            if context.hearsProgress { progress = { message in context.report(progress: message) } }
            return try await client.callTool(remoteName, arguments: arguments, progress: progress)
        } catch let error as MCPError {
            throw ToolArgumentError(description: error.description)
        }
    }

    /// The name an agent sees: `server__tool`, with characters model APIs refuse replaced by `_`, at most 64.
    public static func agentName(server: String, tool: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        let cleaned = String(tool.map { allowed.contains($0) ? $0 : "_" })
        return String("\(server)__\(cleaned)".prefix(64))
    }
}

/// A connected server's resources or prompts as one tool: `server__read_resource` (by URI) or
/// `server__get_prompt` (by name, with arguments). What the server offers is listed in the description, fenced as
/// data from that server; what it returns is judged like its tools' output.
public struct MCPContentTool: Tool {
    public typealias Arguments = JSONValue

    public enum Kind: CaseIterable, Sendable {
        case resources
        case prompts

        /// The capability a server declares at `initialize` when it offers these.
        var capability: String { self == .resources ? "resources" : "prompts" }
    }

    let kind: Kind
    let client: MCPClient
    let trusted: Bool
    public let definition: ToolDefinition

    /// Lists what the server offers now, for the description (at most 50 entries, each cut short).
    public init(_ kind: Kind, client: MCPClient, trusted: Bool) async throws {
        self.kind = kind
        self.client = client
        self.trusted = trusted
        let server = client.configuration.name
        let origin = "the MCP server '\(server)' (\(trusted ? "trusted" : "untrusted"))"
        func line(_ parts: String...) -> String {
            "- " + String(parts.filter { !$0.isEmpty }.joined(separator: ": ").prefix(200))
        }
        switch kind {
        case .resources:
            let listed = try await client.listResources().prefix(50).map {
                line($0["uri"]?.stringValue ?? "", $0["description"]?.stringValue ?? $0["name"]?.stringValue ?? "")
            }
            let templates = try await client.listResourceTemplates().prefix(20).map {
                line($0["uriTemplate"]?.stringValue ?? "", $0["description"]?.stringValue ?? "")
            }
            definition = ToolDefinition(
                name: MCPTool.agentName(server: server, tool: "read_resource"),
                description: ToolDefinition.quoting(
                    "Read a resource of \(origin) by URI.",
                    "What it lists",
                    from: "that server",
                    (listed + templates).joined(separator: "\n")
                ),
                properties: ["uri": .argument("string", "The resource's URI (a listed one, or a template filled in)")],
                required: ["uri"]
            )
        case .prompts:
            let listed = try await client.listPrompts().prefix(50).map { prompt in
                let arguments = (prompt["arguments"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
                return line(
                    (prompt["name"]?.stringValue ?? "") + "(\(arguments.joined(separator: ", ")))",
                    prompt["description"]?.stringValue ?? ""
                )
            }
            definition = ToolDefinition(
                name: MCPTool.agentName(server: server, tool: "get_prompt"),
                description: ToolDefinition.quoting(
                    "Get a prompt of \(origin), filled in with arguments.",
                    "What it lists",
                    from: "that server",
                    listed.joined(separator: "\n")
                ),
                properties: [
                    "name": .argument("string", "The prompt's name"),
                    "arguments": .argument("object", "The prompt's arguments, each a string"),
                ],
                required: ["name"]
            )
        }
    }

    public func assess(_ arguments: JSONValue, context: ToolContext) -> ToolAssessment {
        ToolAssessment(risk: .network, untrustedOutput: !trusted)
    }

    public func call(_ arguments: JSONValue, context: ToolContext) async throws -> String {
        do {
            switch kind {
            case .resources:
                guard let uri = arguments["uri"]?.stringValue, !uri.isEmpty else {
                    throw ToolArgumentError(description: "'uri' is required")
                }
                return try await client.readResource(uri)
            case .prompts:
                guard let name = arguments["name"]?.stringValue else {
                    throw ToolArgumentError(description: "'name' is required")
                }
                var values: [String: String] = [:]
                for (key, value) in arguments["arguments"]?.objectValue ?? [:] {
                    values[key] = value.stringValue ?? value.canonicalJSON
                }
                return try await client.getPrompt(name, arguments: values)
            }
        } catch let error as MCPError {
            throw ToolArgumentError(description: error.description)
        }
    }
}
