import Foundation
import Hummingbird
import OspreyCore
import OspreyMemory
import OspreyStore

/// `/api/memory`: store, search, show, forget and reindex long-term memories.
struct MemoryController {
    let memory: MemoryBank

    var operations: [Operation] { [store, search, reindex, show, update, forget] }

    func add(to routes: inout RouteTable) {
        routes.bind(.post, "/api/memory", store, body: true, status: { _ in .created })
        routes.bind(.post, "/api/memory/search", search, body: true)
        routes.bind(.post, "/api/memory/reindex", reindex)
        routes.bind(.get, "/api/memory/:id", show, parameters: ["id": "id"])
        routes.bind(.put, "/api/memory/:id", update, parameters: ["id": "id"], body: true)
        routes.bind(.delete, "/api/memory/:id", forget, parameters: ["id": "id"], status: { _ in .noContent })
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

    struct Store: OperationRequest {
        static let fields: Set<String> = [
            "content", "title", "type", "tags", "importance", "source", "provenance", "trust",
        ]
        let content: String
        let title: String?
        let type: MemoryType
        let tags: [String]
        let importance: Double
        let source: MemorySource
        let provenance: String?
        let trust: MemoryTrust

        init(_ fields: Fields) throws {
            guard let content = fields["content"]?.stringValue else {
                throw APIError.badRequest("Field 'content' is required.")
            }
            self.content = content
            let type = try fields.optionalString("type") ?? "fact"
            guard let kind = MemoryType(rawValue: type) else {
                throw APIError.badRequest("Field 'type' must be fact, preference, procedure, episode or lesson.")
            }
            self.type = kind
            let sourceName = try fields.optionalString("source") ?? "user"
            guard let source = MemorySource(rawValue: sourceName) else {
                throw APIError.badRequest("Field 'source' must be user, agent, tool or url.")
            }
            self.source = source
            let trustName = try fields.optionalString("trust") ?? (source == .user ? "trusted" : "untrusted")
            guard let trust = MemoryTrust(rawValue: trustName) else {
                throw APIError.badRequest("Field 'trust' must be trusted or untrusted.")
            }
            self.trust = trust
            var tags: [String] = []
            if let value = fields["tags"] {
                guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                    throw APIError.badRequest("Field 'tags' must be an array of strings.")
                }
                tags = items.compactMap(\.stringValue)
            }
            self.tags = tags
            var importance = 0.5
            if let value = fields["importance"] {
                guard let number = value.doubleValue, (0...1).contains(number) else {
                    throw APIError.badRequest("Field 'importance' must be a number in 0...1.")
                }
                importance = number
            }
            self.importance = importance
            title = try fields.optionalString("title")
            provenance = try fields.optionalString("provenance")
        }
    }

    var store: Operation {
        Operation("memory.store", role: .operator) { (request: Store, caller) in
            let record = try await memory.store(
                request.content,
                title: request.title,
                type: request.type,
                tags: request.tags,
                source: request.source,
                provenance: request.provenance ?? caller.actor.rawValue,
                trust: request.trust,
                importance: request.importance,
                actor: caller.actor
            )
            return Self.json(record)
        }
    }

    struct Search: OperationRequest {
        static let fields: Set<String> = ["query", "limit", "types", "tags", "trust", "since"]
        let query: String
        let limit: Int
        let filter: MemoryBank.Filter

        init(_ fields: Fields) throws {
            guard let query = fields["query"]?.stringValue else {
                throw APIError.badRequest("Field 'query' is required.")
            }
            self.query = query
            var filter = MemoryBank.Filter()
            if let value = fields["types"] {
                let names = value.arrayValue?.compactMap(\.stringValue) ?? []
                let types = names.compactMap(MemoryType.init(rawValue:))
                guard types.count == names.count, !types.isEmpty else {
                    throw APIError.badRequest("Field 'types' must list fact, preference, procedure, episode or lesson.")
                }
                filter.types = Set(types)
            }
            if let value = fields["tags"] {
                guard let tags = value.arrayValue?.compactMap(\.stringValue), !tags.isEmpty else {
                    throw APIError.badRequest("Field 'tags' must be an array of strings.")
                }
                filter.tags = Set(tags)
            }
            if let name = try fields.optionalString("trust") {
                guard let trust = MemoryTrust(rawValue: name) else {
                    throw APIError.badRequest("Field 'trust' must be trusted or untrusted.")
                }
                filter.trust = trust
            }
            if let since = try fields.optionalString("since") {
                guard let date = WireFormat.date(from: since) else {
                    throw APIError.badRequest("Field 'since' must be an RFC 3339 timestamp.")
                }
                filter.since = date
            }
            self.filter = filter
            limit = fields["limit"]?.intValue ?? 10
            guard (1...100).contains(limit) else { throw APIError.badRequest("Field 'limit' must be 1...100.") }
        }
    }

    var search: Operation {
        Operation("memory.search", role: .viewer) { (request: Search, _) in
            let hits = try await memory.search(request.query, limit: request.limit, filter: request.filter)
            return [
                "results": .array(
                    hits.map { hit in
                        var json = Self.json(hit.record).objectValue ?? [:]
                        json["score"] = .double(hit.score)
                        json["keyword_rank"] = hit.keywordRank.map(JSONValue.int) ?? .null
                        json["vector_rank"] = hit.vectorRank.map(JSONValue.int) ?? .null
                        return .object(json)
                    }
                )
            ]
        }
    }

    var reindex: Operation {
        Operation("memory.reindex", role: .operator) { (_: NoFields, caller) in
            let report = try await memory.reindex(actor: caller.actor)
            return [
                "indexed": .int(report.indexed), "unchanged": .int(report.unchanged), "removed": .int(report.removed),
                "invalid": .object(report.invalid.mapValues(JSONValue.string)),
            ]
        }
    }

    var show: Operation {
        Operation("memory.get", role: .viewer) { (request: RecordID, _) in
            Self.json(try await memory.get(request.id))
        }
    }

    struct Update: OperationRequest {
        static let fields: Set<String> = ["id", "content", "title"]
        let id: String
        let content: String
        let title: String?
        init(_ fields: Fields) throws {
            id = try fields.string("id")
            content = try fields.string("content")
            title = try fields.optionalString("title")
        }
    }

    /// Edits a memory's content (and title); its trust and provenance stay.
    var update: Operation {
        Operation("memory.update", role: .operator) { (request: Update, caller) in
            Self.json(
                try await memory.update(request.id, body: request.content, title: request.title, actor: caller.actor)
            )
        }
    }

    var forget: Operation {
        Operation("memory.forget", role: .operator) { (request: RecordID, caller) in
            try await memory.forget(request.id, actor: caller.actor)
            return ["forgotten": true]
        }
    }
}
