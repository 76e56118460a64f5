import Foundation
import Hummingbird
import OspreyCore
import OspreyStore
import OspreyTools

/// `/api/checkpoints`: checkpoints of the workspace (made before every task that may write, or on demand), what
/// changed since one, and restoring one.
struct CheckpointsController {
    let runtime: AgentRuntime
    let ledger: Ledger

    var operations: [Operation] { [list, create, diff, restore] }

    func add(to routes: inout RouteTable) {
        let id = ["id": "id"]
        routes.bind(.get, "/api/checkpoints", list, query: ["limit"])
        routes.bind(.post, "/api/checkpoints", create, body: true, status: { _ in .created })
        routes.bind(.get, "/api/checkpoints/:id/diff", diff, parameters: id)
        routes.bind(.post, "/api/checkpoints/:id/restore", restore, parameters: id)
    }

    static func json(_ checkpoint: Checkpoints.Checkpoint) -> JSONValue {
        .object(checkpoint.json.mapValues(JSONValue.string))
    }

    /// A checkpoint failure as the API says it: 404 for one that does not exist, 400 for a malformed id, else 500.
    static func answering<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as Checkpoints.Failure {
            if failure.notFound { throw APIError(.notFound, "not_found", failure.description) }
            if failure.description.contains("is not a checkpoint id") { throw APIError.badRequest(failure.description) }
            throw APIError(.internalServerError, "checkpoint_failed", failure.description)
        }
    }

    struct List: OperationRequest {
        static let fields: Set<String> = ["limit"]
        let limit: Int
        init(_ fields: Fields) throws { limit = try fields.int("limit", default: 100, range: 1...1000) }
    }

    var list: Operation {
        Operation("checkpoints.list", role: .viewer) { (request: List, _) in
            let found = try await Self.answering { try await runtime.checkpoints.list(limit: request.limit) }
            return ["checkpoints": .array(found.map(Self.json))]
        }
    }

    struct Create: OperationRequest {
        static let fields: Set<String> = ["label"]
        let label: String
        init(_ fields: Fields) throws {
            label = try fields.optionalString("label") ?? "checkpoint"
            guard label.count <= 200 else { throw APIError.badRequest("Field 'label' is longer than 200 characters.") }
        }
    }

    var create: Operation {
        Operation("checkpoints.create", role: .operator) { (request: Create, caller) in
            Self.json(try await Self.answering { try await runtime.checkpoint(request.label, actor: caller.actor) })
        }
    }

    var diff: Operation {
        Operation("checkpoints.diff", role: .viewer) { (request: RecordID, _) in
            let (summary, patch) = try await Self.answering { try await runtime.checkpoints.diff(request.id) }
            return ["id": .string(request.id), "summary": .string(summary), "patch": .string(patch)]
        }
    }

    var restore: Operation {
        Operation("checkpoints.restore", role: .operator) { (request: RecordID, caller) in
            let safety = try await Self.answering { try await runtime.checkpoints.restore(request.id) }
            try await ledger.append(
                EventDraft(
                    type: .checkpointRestored,
                    actor: caller.actor,
                    payload: ["id": .string(request.id), "safety": .string(safety.id)]
                )
            )
            return ["restored": .string(request.id), "safety": Self.json(safety)]
        }
    }
}
