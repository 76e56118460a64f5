import Foundation
import Hummingbird
import OspreyAgent
import OspreyCore
import OspreyStore

/// `/api/approvals`: tool calls waiting for a human; list, show, approve (once or for the session), reject.
///
/// Only a human's token decides: a token bound to an agent is refused (403), so a hijacked agent that found
/// a token still cannot approve its own calls.
struct ApprovalsController {
    let approvals: Approvals
    let desk: ApprovalDesk

    var operations: [Operation] { [list, show, approve, reject] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/approvals", list, query: List.fields)
        routes.bind(.get, "/api/approvals/:id", show, parameters: ["id": "id"])
        routes.bind(.post, "/api/approvals/:id/approve", approve, parameters: ["id": "id"], body: true)
        routes.bind(.post, "/api/approvals/:id/reject", reject, parameters: ["id": "id"], body: true)
    }

    static let statuses = Set(ApprovalStatus.allCases.map(\.rawValue) + ["all"])

    struct List: OperationRequest {
        static let fields: Set<String> = ["status", "limit"]
        /// nil for all.
        let status: ApprovalStatus?
        let limit: Int
        init(_ fields: Fields) throws {
            let status = try fields.optionalString("status") ?? "pending"
            guard ApprovalsController.statuses.contains(status) else {
                throw APIError.badRequest(
                    "\(fields.label("status")) must be one of \(ApprovalsController.statuses.sorted().joined(separator: ", "))."
                )
            }
            self.status = ApprovalStatus(rawValue: status)
            limit = try fields.int("limit", default: 100, range: 1...1000)
        }
    }

    var list: Operation {
        Operation("approvals.list", role: .viewer) { (request: List, _) in
            let approvals = try await approvals.list(status: request.status, limit: request.limit)
            return ["approvals": .array(approvals.map(\.json))]
        }
    }

    var show: Operation {
        Operation("approvals.get", role: .viewer) { (request: RecordID, _) in
            try await approvals.get(Approval.ID(request.id)).json
        }
    }

    struct Approve: OperationRequest {
        static let fields: Set<String> = ["id", "scope"]
        let id: Approval.ID
        let scope: ApprovalScope
        init(_ fields: Fields) throws {
            id = Approval.ID(try fields.string("id"))
            guard let scope = ApprovalScope(rawValue: try fields.optionalString("scope") ?? "once") else {
                throw APIError.badRequest("Field 'scope' must be once or session.")
            }
            self.scope = scope
        }
    }

    var approve: Operation {
        Operation("approvals.approve", role: .operator) { (request: Approve, caller) in
            try Self.requireHuman(caller)
            return try await desk.resolve(request.id, grant: true, scope: request.scope, by: caller.actor).json
        }
    }

    var reject: Operation {
        Operation("approvals.reject", role: .operator) { (request: RecordID, caller) in
            try Self.requireHuman(caller)
            return try await desk.resolve(Approval.ID(request.id), grant: false, by: caller.actor).json
        }
    }

    /// Refuses tokens that act for an agent.
    static func requireHuman(_ caller: Caller) throws {
        if let agent = caller.token?.agent {
            throw APIError(
                .forbidden,
                "human_required",
                "Approvals can only be decided with a human's token; this token acts for agent '\(agent)'."
            )
        }
    }
}
