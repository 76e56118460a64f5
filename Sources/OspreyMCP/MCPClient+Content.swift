public import OspreyCore

/// What a connected server offers beside tools: resources, resource templates and prompts, and how content reads.
extension MCPClient {
    /// Content items as text: text as it is, an embedded resource's text, anything else named.
    static func text(of content: [JSONValue]) -> String {
        content.map { item -> String in
            switch item["type"]?.stringValue {
            case "text": item["text"]?.stringValue ?? ""
            case "resource":
                item["resource"]?["text"]?.stringValue ?? "[resource \(item["resource"]?["uri"]?.stringValue ?? "")]"
            case let kind: "[\(kind ?? "unknown") content, \(item["mimeType"]?.stringValue ?? "no type")]"
            }
        }.joined(separator: "\n")
    }

    /// The server's resources (`uri`, `name`, `description`, `mimeType` objects), every page.
    public func listResources() async throws -> [JSONValue] {
        try await ensureRunning()
        return try await pages("resources/list", key: "resources")
    }

    /// The server's resource templates (`uriTemplate`, `name`, `description` objects), every page.
    public func listResourceTemplates() async throws -> [JSONValue] {
        try await ensureRunning()
        return try await pages("resources/templates/list", key: "resourceTemplates")
    }

    /// A resource's text contents joined (a binary one is named, not inlined).
    public func readResource(_ uri: String) async throws -> String {
        try await ensureRunning()
        let result = try await request("resources/read", params: ["uri": .string(uri)])
        return (result["contents"]?.arrayValue ?? []).map { item in
            item["text"]?.stringValue
                ?? "[binary resource \(item["uri"]?.stringValue ?? uri), \(item["mimeType"]?.stringValue ?? "no type")]"
        }.joined(separator: "\n")
    }

    /// The server's prompts (`name`, `description`, `arguments` objects), every page.
    public func listPrompts() async throws -> [JSONValue] {
        try await ensureRunning()
        return try await pages("prompts/list", key: "prompts")
    }

    /// A prompt's messages, one `role: text` paragraph each.
    public func getPrompt(_ name: String, arguments: [String: String]) async throws -> String {
        try await ensureRunning()
        let result = try await request(
            "prompts/get",
            params: ["name": .string(name), "arguments": .object(arguments.mapValues(JSONValue.string))]
        )
        return (result["messages"]?.arrayValue ?? []).map { message in
            let content = message["content"].map { $0.arrayValue ?? [$0] } ?? []
            return "\(message["role"]?.stringValue ?? "user"): \(Self.text(of: content))"
        }.joined(separator: "\n\n")
    }
}
