import Foundation
import Hummingbird
import OspreyCore
import OspreyScheduler
import OspreyStore

/// `/api/seeds`: the immutable, versioned specifications of spec-first work; each change a new generation, with the
/// evolution of a lineage (how alike each generation is to the one before, and the drift from first to last).
struct SeedsController {
    let seeds: Seeds
    let tasks: Tasks
    /// Whether an agent of this name is configured.
    let knows: @Sendable (String) -> Bool

    var operations: [Operation] { [create, list, show, evolve, evolution, run] }

    func add(to routes: inout RouteTable) {
        let id = ["id": "id"]
        routes.bind(.post, "/api/seeds", create, body: true, status: { _ in .created })
        routes.bind(.get, "/api/seeds", list, query: ["limit"])
        routes.bind(.get, "/api/seeds/:id", show, parameters: id)
        routes.bind(.post, "/api/seeds/:id/evolve", evolve, parameters: id, body: true, status: { _ in .created })
        routes.bind(.get, "/api/seeds/:id/evolution", evolution, parameters: id)
        routes.bind(.post, "/api/seeds/:id/run", run, parameters: id, body: true, status: { _ in .created })
    }

    static func document(_ fields: Fields) throws -> SeedDocument {
        guard let value = fields["document"] else { throw APIError.badRequest("Field 'document' is required.") }
        do {
            return try SeedDocument(value)
        } catch let error as SeedError {
            throw APIError.badRequest("Field 'document': \(error.description).")
        }
    }

    struct Create: OperationRequest {
        static let fields: Set<String> = ["document"]
        let document: SeedDocument
        init(_ fields: Fields) throws { document = try SeedsController.document(fields) }
    }

    var create: Operation {
        Operation("seeds.create", role: .operator) { (request: Create, caller) in
            try await seeds.create(request.document, actor: caller.actor).json
        }
    }

    struct List: OperationRequest {
        static let fields: Set<String> = ["limit"]
        let limit: Int
        init(_ fields: Fields) throws { limit = try fields.int("limit", default: 100, range: 1...1000) }
    }

    var list: Operation {
        Operation("seeds.list", role: .viewer) { (request: List, _) in
            ["seeds": .array(try await seeds.latest(limit: request.limit).map(\.json))]
        }
    }

    var show: Operation {
        Operation("seeds.get", role: .viewer) { (request: RecordID, _) in
            try await seeds.get(SeedRecord.ID(request.id)).json
        }
    }

    struct Evolve: OperationRequest {
        static let fields: Set<String> = ["id", "document", "changes"]
        let id: SeedRecord.ID
        let document: SeedDocument
        let changes: String
        init(_ fields: Fields) throws {
            id = SeedRecord.ID(try fields.string("id"))
            document = try SeedsController.document(fields)
            changes = try fields.string("changes")
        }
    }

    var evolve: Operation {
        Operation("seeds.evolve", role: .operator) { (request: Evolve, caller) in
            try await seeds.create(
                request.document,
                evolving: request.id,
                changes: request.changes,
                actor: caller.actor
            )
            .json
        }
    }

    var evolution: Operation {
        Operation("seeds.evolution", role: .viewer) { (request: RecordID, _) in
            let generations = try await seeds.lineage(of: SeedRecord.ID(request.id))
            var entries: [JSONValue] = []
            for (position, seed) in generations.enumerated() {
                let previous = position > 0 ? generations[position - 1].document : nil
                entries.append([
                    "id": .string(seed.id.rawValue), "generation": .int(seed.generation),
                    "sha256": .string(seed.sha256),
                    "changes": seed.changes.map(JSONValue.string) ?? .null,
                    "similarity_to_previous": previous.map { .double(Self.rounded(seed.document.similarity(to: $0))) }
                        ?? .null,
                ])
            }
            let drift =
                generations.first.flatMap { first in
                    generations.last.map { 1 - first.document.similarity(to: $0.document) }
                } ?? 0
            return [
                "lineage": .string(generations.first?.lineage.rawValue ?? request.id), "generations": .array(entries),
                "drift": .double(Self.rounded(drift)),
            ]
        }
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    struct Run: OperationRequest {
        static let fields: Set<String> = [
            "id", "agent", "max_generations", "judges", "converge", "mode", "branches", "priority", "max_tokens",
            "max_cost_usd",
        ]
        let id: SeedRecord.ID
        let agent: String
        let settings: SpecRunner.Settings
        let priority: Int
        let maxTokens: Int
        let maxCostUSD: Double
        init(_ fields: Fields) throws {
            id = SeedRecord.ID(try fields.string("id"))
            agent = try fields.optionalString("agent") ?? "default"
            var settings: [String: JSONValue] = [:]
            for key in ["max_generations", "judges", "converge", "mode", "branches"] { settings[key] = fields[key] }
            do {
                self.settings = try SpecRunner.Settings(.object(settings))
            } catch let error as SeedError {
                throw APIError.badRequest("\(error.description).")
            }
            priority = try fields.int("priority", default: 5, range: 0...9)
            maxTokens = try fields.int("max_tokens", default: 0, range: 0...1_000_000_000)
            maxCostUSD = fields["max_cost_usd"]?.doubleValue ?? 0
        }
    }

    /// Starts a spec run of the seed: a task the supervisor runs generation by generation (``SpecRunner``); its
    /// result is the report.
    var run: Operation {
        Operation("seeds.run", role: .operator) { (request: Run, caller) in
            let seed = try await seeds.get(request.id)
            for agent in [request.agent] + request.settings.judges where !knows(agent) {
                throw APIError.badRequest("No agent named '\(agent)'.")
            }
            var draft = Tasks.Draft(
                title: "spec: " + String(seed.document.goal.prefix(120)),
                instructions: request.settings.json.canonicalJSON,
                agent: request.agent,
                priority: request.priority,
                maxTokens: request.maxTokens,
                maxCostUSD: request.maxCostUSD,
                tainted: caller.untrusted
            )
            draft.seed = seed.id
            return try await tasks.submit(draft, actor: caller.actor).json
        }
    }
}
