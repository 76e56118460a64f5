import Foundation
import Hummingbird
import OspreyCore
import OspreyMemory
import OspreyStore

/// `/api/memory`: store, search, show, forget and reindex long-term memories.
struct MemoryController {
    let kernel: Kernel

    func add(to routes: inout RouteTable) {
        routes.on(.post, "/api/memory", .role(.operator), store)
        routes.on(.post, "/api/memory/search", .role(.viewer), search)
        routes.on(.post, "/api/memory/reindex", .role(.operator), reindex)
        routes.on(.get, "/api/memory/:id", .role(.viewer), show)
        routes.on(.delete, "/api/memory/:id", .role(.operator), forget)
    }

    static func json(_ record: MemoryRecord) -> JSONValue {
        [
            "id": .string(record.id), "type": .string(record.type.rawValue),
            "tags": .array(record.tags.map(JSONValue.string)), "source": .string(record.source.rawValue),
            "provenance": .string(record.provenance), "trust": .string(record.trust.rawValue),
            "importance": .double(record.importance), "created": .string(WireFormat.timestamp(record.created)),
            "last_used": record.lastUsed.map { .string(WireFormat.timestamp($0)) } ?? .null,
            "title": record.title.map(JSONValue.string) ?? .null, "body": .string(record.body),
        ]
    }

    @Sendable func store(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await JSONBody.read(
            request,
            maxBytes: kernel.config.gateway.maxBodyBytes,
            allowed: ["content", "title", "type", "tags", "importance", "source", "provenance", "trust"]
        )
        guard let content = body.members["content"]?.stringValue else {
            throw APIError.badRequest("Field 'content' is required.")
        }
        let type = try body.optionalString("type") ?? "fact"
        guard let kind = MemoryType(rawValue: type) else {
            throw APIError.badRequest("Field 'type' must be fact, preference, procedure, episode or lesson.")
        }
        let sourceName = try body.optionalString("source") ?? "user"
        guard let source = MemorySource(rawValue: sourceName) else {
            throw APIError.badRequest("Field 'source' must be user, agent, tool or url.")
        }
        let trustName = try body.optionalString("trust") ?? (source == .user ? "trusted" : "untrusted")
        guard let trust = MemoryTrust(rawValue: trustName) else {
            throw APIError.badRequest("Field 'trust' must be trusted or untrusted.")
        }
        var tags: [String] = []
        if let value = body.members["tags"] {
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                throw APIError.badRequest("Field 'tags' must be an array of strings.")
            }
            tags = items.compactMap(\.stringValue)
        }
        var importance = 0.5
        if let value = body.members["importance"] {
            guard let number = value.doubleValue, (0...1).contains(number) else {
                throw APIError.badRequest("Field 'importance' must be a number in 0...1.")
            }
            importance = number
        }
        let record = try await kernel.memory.store(
            content,
            title: try body.optionalString("title"),
            type: kind,
            tags: tags,
            source: source,
            provenance: try body.optionalString("provenance") ?? context.actor,
            trust: trust,
            importance: importance,
            actor: context.actor
        )
        return try .json(Self.json(record), status: .created)
    }

    @Sendable func search(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await JSONBody.read(
            request,
            maxBytes: kernel.config.gateway.maxBodyBytes,
            allowed: ["query", "limit", "types", "tags", "trust", "since"]
        )
        guard let query = body.members["query"]?.stringValue else {
            throw APIError.badRequest("Field 'query' is required.")
        }
        var filter = MemoryBank.Filter()
        if let value = body.members["types"] {
            let names = value.arrayValue?.compactMap(\.stringValue) ?? []
            let types = names.compactMap(MemoryType.init(rawValue:))
            guard types.count == names.count, !types.isEmpty else {
                throw APIError.badRequest("Field 'types' must list fact, preference, procedure, episode or lesson.")
            }
            filter.types = Set(types)
        }
        if let value = body.members["tags"] {
            guard let tags = value.arrayValue?.compactMap(\.stringValue), !tags.isEmpty else {
                throw APIError.badRequest("Field 'tags' must be an array of strings.")
            }
            filter.tags = Set(tags)
        }
        if let name = try body.optionalString("trust") {
            guard let trust = MemoryTrust(rawValue: name) else {
                throw APIError.badRequest("Field 'trust' must be trusted or untrusted.")
            }
            filter.trust = trust
        }
        if let since = try body.optionalString("since") {
            guard let date = WireFormat.date(from: since) else {
                throw APIError.badRequest("Field 'since' must be an RFC 3339 timestamp.")
            }
            filter.since = date
        }
        let limit = body.members["limit"]?.intValue ?? 10
        guard (1...100).contains(limit) else { throw APIError.badRequest("Field 'limit' must be 1...100.") }
        let hits = try await kernel.memory.search(query, limit: limit, filter: filter)
        return try .json(
            JSONValue.object([
                "results": .array(
                    hits.map { hit in
                        var json = Self.json(hit.record).objectValue ?? [:]
                        json["score"] = .double(hit.score)
                        json["keyword_rank"] = hit.keywordRank.map(JSONValue.int) ?? .null
                        json["vector_rank"] = hit.vectorRank.map(JSONValue.int) ?? .null
                        return .object(json)
                    }
                )
            ])
        )
    }

    @Sendable func reindex(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let report = try await kernel.memory.reindex(actor: context.actor)
        return try .json(
            JSONValue.object([
                "indexed": .int(report.indexed), "unchanged": .int(report.unchanged), "removed": .int(report.removed),
                "invalid": .object(report.invalid.mapValues(JSONValue.string)),
            ])
        )
    }

    @Sendable func show(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try .json(Self.json(try await kernel.memory.get(try Self.id(context))))
    }

    @Sendable func forget(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try await kernel.memory.forget(try Self.id(context), actor: context.actor)
        return Response(status: .noContent)
    }

    static func id(_ context: GatewayRequestContext) throws -> String {
        guard let raw = context.parameters.get("id"), !raw.isEmpty else { throw APIError.badRequest("Missing id.") }
        return raw
    }
}
