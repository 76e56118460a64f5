import Foundation
import HTTPTypes
import OspreyCore
import OspreyHost
import OspreyStore

/// `/api/backups`: the backups `[backup]` keeps, and one taken now. A backup holds the secret store: admins only.
struct BackupsController {
    let job: BackupJob

    var operations: [Operation] { [create, list] }

    func add(to routes: inout RouteTable) {
        routes.bind(.post, "/api/backups", create, body: true, status: { _ in .created })
        routes.bind(.get, "/api/backups", list)
    }

    var create: Operation {
        Operation("backups.create", role: .admin) { (_: NoFields, caller) in
            do {
                return try await job.run(actor: caller.actor)
            } catch let error as BackupError {
                throw APIError(.internalServerError, "backup_failed", "The backup failed: \(error.description)")
            }
        }
    }

    var list: Operation {
        Operation("backups.list", role: .admin) { (_: NoFields, _) in
            ["directory": .string(job.directory.path), "backups": .array(job.list())]
        }
    }
}
