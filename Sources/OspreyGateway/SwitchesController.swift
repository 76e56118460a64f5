import Foundation
import HTTPTypes
import OspreyCore
import OspreyHost
import OspreyStore

/// `/api/switches`: SafeSwitch changes to the host: begin one (a plan applied after a snapshot, then judged by its
/// health checks through a probation window), list, show, commit, roll back. Changing the host is an admin's act.
struct SwitchesController {
    let switches: SafeSwitch
    let records: Switches

    var operations: [Operation] { [begin, list, show, commit, rollback] }

    func add(to routes: inout RouteTable) {
        routes.bind(.post, "/api/switches", begin, body: true, status: { _ in .created })
        routes.bind(.get, "/api/switches", list, query: List.fields)
        routes.bind(.get, "/api/switches/:id", show, parameters: ["id": "id"])
        routes.bind(.post, "/api/switches/:id/commit", commit, parameters: ["id": "id"], body: true)
        routes.bind(.post, "/api/switches/:id/rollback", rollback, parameters: ["id": "id"], body: true)
    }

    /// The plan's fields, passed to SafeSwitch whole (it refuses unknown ones with their name).
    struct Begin: OperationRequest {
        static let fields: Set<String> = [
            "reason", "ttl_seconds", "interval_seconds", "files", "services", "packages", "checks",
        ]
        let plan: JSONValue
        init(_ fields: Fields) throws { plan = .object(fields.members) }
    }

    var begin: Operation {
        Operation("switches.begin", role: .admin) { (request: Begin, caller) in
            try await switches.begin(request.plan, actor: caller.actor).json
        }
    }

    struct List: OperationRequest {
        static let fields: Set<String> = ["status", "limit"]
        let probation: Bool
        let limit: Int
        init(_ fields: Fields) throws {
            let status = try fields.optionalString("status") ?? "all"
            guard ["all", "probation"].contains(status) else {
                throw APIError.badRequest("\(fields.label("status")) must be all or probation.")
            }
            probation = status == "probation"
            limit = try fields.int("limit", default: 100, range: 1...1000)
        }
    }

    var list: Operation {
        Operation("switches.list", role: .viewer) { (request: List, _) in
            ["switches": .array(try await records.list(probation: request.probation, limit: request.limit).map(\.json))]
        }
    }

    var show: Operation {
        Operation("switches.get", role: .viewer) { (request: RecordID, _) in
            try await records.get(SwitchRecord.ID(request.id)).json
        }
    }

    var commit: Operation {
        Operation("switches.commit", role: .admin) { (request: RecordID, caller) in
            try await switches.commit(SwitchRecord.ID(request.id), actor: caller.actor).json
        }
    }

    var rollback: Operation {
        Operation("switches.rollback", role: .admin) { (request: RecordID, caller) in
            try await switches.rollback(SwitchRecord.ID(request.id), reason: "asked", actor: caller.actor).json
        }
    }
}
