import Foundation
import HTTPTypes
import OspreyCore
import OspreyHost
import OspreyStore

/// `POST /api/receipts`: a signed receipt of what an agent did in a task, a session or an incident (see ``Receipts``).
struct ReceiptsController {
    let store: Store
    let home: Home

    var operations: [Operation] { [create] }

    func add(to routes: inout RouteTable) {
        routes.bind(.post, "/api/receipts", create, body: true)
    }

    struct Create: OperationRequest {
        static let fields: Set<String> = ["task", "session", "incident"]
        let task: BackgroundTask.ID?
        let session: Session.ID?
        let incident: IncidentRecord.ID?
        init(_ fields: Fields) throws {
            task = try fields.optionalString("task").map { BackgroundTask.ID($0) }
            session = try fields.optionalString("session").map { Session.ID($0) }
            incident = try fields.optionalString("incident").map { IncidentRecord.ID($0) }
            guard [task != nil, session != nil, incident != nil].filter({ $0 }).count == 1 else {
                throw APIError.badRequest("Give one of 'task', 'session' or 'incident'.")
            }
        }
    }

    var create: Operation {
        Operation("receipts.create", role: .operator) { (request: Create, _) in
            do {
                return try await Receipts.make(
                    store: store,
                    task: request.task,
                    session: request.session,
                    incident: request.incident,
                    key: try Receipts.identityKey(home: home)
                )
            } catch let error as ReceiptError {
                throw APIError(.notFound, "not_found", error.description)
            }
        }
    }
}
