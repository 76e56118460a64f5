import Foundation
import HTTPTypes
import OspreyCore
import OspreyStore

/// `/api/incidents`: troubleshooting records: open one, add its steps (observation, hypothesis, action, result, with
/// the ledger events and the command they point at), resolve it with a summary.
struct IncidentsController {
    let incidents: Incidents

    var operations: [Operation] { [list, show, create, step, resolve] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/incidents", list, query: ["limit"])
        routes.bind(.post, "/api/incidents", create, body: true, status: { _ in .created })
        routes.bind(.get, "/api/incidents/:id", show, parameters: ["id": "id"])
        routes.bind(.post, "/api/incidents/:id/steps", step, parameters: ["id": "id"], body: true)
        routes.bind(.post, "/api/incidents/:id/resolve", resolve, parameters: ["id": "id"], body: true)
    }

    struct Limit: OperationRequest {
        static let fields: Set<String> = ["limit"]
        let limit: Int
        init(_ fields: Fields) throws { limit = try fields.int("limit", default: 100, range: 1...1000) }
    }

    var list: Operation {
        Operation("incidents.list", role: .viewer) { (request: Limit, _) in
            ["incidents": .array(try await incidents.list(limit: request.limit).map(\.json))]
        }
    }

    var show: Operation {
        Operation("incidents.get", role: .viewer) { (request: RecordID, _) in
            try await incidents.get(IncidentRecord.ID(request.id)).json
        }
    }

    struct Create: OperationRequest {
        static let fields: Set<String> = ["title", "severity"]
        let title: String
        let severity: String
        init(_ fields: Fields) throws {
            title = try fields.string("title")
            severity = try fields.optionalString("severity") ?? "medium"
        }
    }

    var create: Operation {
        Operation("incidents.create", role: .operator) { (request: Create, caller) in
            try await incidents.create(title: request.title, severity: request.severity, actor: caller.actor).json
        }
    }

    struct Step: OperationRequest {
        static let fields: Set<String> = ["id", "kind", "text", "events", "command"]
        let id: String
        let kind: String
        let text: String
        let events: [Int]
        let command: String?
        init(_ fields: Fields) throws {
            id = try fields.string("id")
            kind = try fields.string("kind")
            text = try fields.string("text")
            command = try fields.optionalString("command")
            switch fields["events"] {
            case nil, .null?: events = []
            case .array(let items)? where items.allSatisfy({ $0.intValue != nil }):
                events = items.compactMap(\.intValue)
            default: throw APIError.badRequest("Field 'events' must be an array of event seqs.")
            }
        }
    }

    var step: Operation {
        Operation("incidents.step", role: .operator) { (request: Step, caller) in
            try await incidents.step(
                IncidentRecord.ID(request.id),
                kind: request.kind,
                text: request.text,
                events: request.events,
                command: request.command,
                actor: caller.actor
            ).json
        }
    }

    struct Resolve: OperationRequest {
        static let fields: Set<String> = ["id", "summary"]
        let id: String
        let summary: String
        init(_ fields: Fields) throws {
            id = try fields.string("id")
            summary = try fields.string("summary")
        }
    }

    var resolve: Operation {
        Operation("incidents.resolve", role: .operator) { (request: Resolve, caller) in
            try await incidents.resolve(IncidentRecord.ID(request.id), summary: request.summary, actor: caller.actor)
                .json
        }
    }
}
