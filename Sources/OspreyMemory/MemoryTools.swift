public import OspreyCore
public import OspreyTools

/// `store_memory`: remembers a fact, preference, procedure, episode or lesson for later sessions.
public struct StoreMemory: Tool {
    public struct Arguments: Decodable {
        var content: String
        var title: String?
        var type: String?
        var tags: [String]?
        var importance: Double?
    }

    let bank: MemoryBank
    public init(bank: MemoryBank) { self.bank = bank }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "store_memory",
            description: "Remember something for later sessions: a fact, preference, procedure, episode or lesson.",
            properties: [
                "content": .argument("string"), "title": .argument("string"),
                "type": .argument("string", oneOf: ["fact", "preference", "procedure", "episode", "lesson"]),
                "tags": .stringsArgument, "importance": .argument("number", "0 to 1"),
            ],
            required: ["content"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .write) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        guard let type = MemoryType(rawValue: arguments.type ?? "fact") else {
            throw ToolArgumentError(description: "type must be fact, preference, procedure, episode or lesson")
        }
        // What an agent stores after reading untrusted content is itself untrusted.
        let record = try await bank.store(
            arguments.content,
            title: arguments.title,
            type: type,
            tags: arguments.tags ?? [],
            source: .agent,
            provenance: "agent \(context.agent), session \(context.sessionID?.rawValue ?? "-")",
            trust: context.tainted ? .untrusted : .trusted,
            importance: arguments.importance ?? 0.5,
            actor: .agent(context.agent)
        )
        return "Stored memory \(record.id) (\(record.trust.rawValue))."
    }
}

/// `query_memories`: searches long-term memory.
public struct QueryMemories: Tool {
    public struct Arguments: Decodable {
        var query: String
        var limit: Int?
        var type: String?
    }

    let bank: MemoryBank
    public init(bank: MemoryBank) { self.bank = bank }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "query_memories",
            description: "Search long-term memory by meaning and keywords.",
            properties: ["query": .argument("string"), "limit": .argument("integer"), "type": .argument("string")],
            required: ["query"]
        )
    }

    /// Memories can hold untrusted content: their text is quoted as data.
    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        ToolAssessment(risk: .read, untrustedOutput: true)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        var filter = MemoryBank.Filter()
        if let type = arguments.type {
            guard let kind = MemoryType(rawValue: type) else {
                throw ToolArgumentError(description: "unknown type '\(type)'")
            }
            filter.types = [kind]
        }
        let hits = try await bank.search(arguments.query, limit: min(max(arguments.limit ?? 5, 1), 20), filter: filter)
        if hits.isEmpty { return "No memories match." }
        return hits.map { hit in
            "\(hit.record.id) [\(hit.record.type.rawValue), \(hit.record.trust.rawValue)] \(hit.record.title.map { $0 + ": " } ?? "")\(hit.record.body)"
        }.joined(separator: "\n")
    }
}

/// `forget_memory`: deletes a memory.
public struct ForgetMemory: Tool {
    public struct Arguments: Decodable { var id: String }
    let bank: MemoryBank
    public init(bank: MemoryBank) { self.bank = bank }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "forget_memory",
            description: "Delete a memory by id.",
            properties: ["id": .argument("string")],
            required: ["id"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment { ToolAssessment(risk: .write) }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        try await bank.forget(arguments.id, actor: .agent(context.agent))
        return "Forgot \(arguments.id)."
    }
}
