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
    let kernel: Kernel

    func add(to routes: inout RouteTable) {
        routes.on(.get, "/api/approvals", .role(.viewer), list)
        routes.on(.get, "/api/approvals/:id", .role(.viewer), show)
        routes.on(.post, "/api/approvals/:id/approve", .role(.operator), approve)
        routes.on(.post, "/api/approvals/:id/reject", .role(.operator), reject)
    }

    static let statuses: Set<String> = ["pending", "granted", "denied", "expired", "used", "all"]

    @Sendable func list(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let status = request.stringQuery("status") ?? "pending"
        guard Self.statuses.contains(status) else {
            throw APIError.badRequest(
                "Query parameter 'status' must be one of \(Self.statuses.sorted().joined(separator: ", "))."
            )
        }
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let approvals = try await kernel.store.approvals.list(status: status == "all" ? nil : status, limit: limit)
        return try .json(JSONValue.object(["approvals": .array(approvals.map(\.json))]))
    }

    @Sendable func show(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        try .json(try await kernel.store.approvals.get(try Self.id(context)).json)
    }

    @Sendable func approve(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await JSONBody.read(request, maxBytes: kernel.config.gateway.maxBodyBytes, allowed: ["scope"])
        let scope = try body.optionalString("scope") ?? "once"
        guard ["once", "session"].contains(scope) else {
            throw APIError.badRequest("Field 'scope' must be once or session.")
        }
        try Self.requireHuman(context)
        let approval = try await kernel.runtime.approvals.resolve(
            try Self.id(context),
            grant: true,
            scope: scope,
            by: context.actor
        )
        return try .json(approval.json)
    }

    @Sendable func reject(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        _ = try await JSONBody.read(request, maxBytes: kernel.config.gateway.maxBodyBytes, allowed: [])
        try Self.requireHuman(context)
        let approval = try await kernel.runtime.approvals.resolve(try Self.id(context), grant: false, by: context.actor)
        return try .json(approval.json)
    }

    static func id(_ context: GatewayRequestContext) throws -> Approval.ID {
        guard let raw = context.parameters.get("id"), !raw.isEmpty else {
            throw APIError.badRequest("Missing approval id.")
        }
        return Approval.ID(raw)
    }

    /// Refuses tokens that act for an agent.
    static func requireHuman(_ context: GatewayRequestContext) throws {
        if let agent = context.token?.agent {
            throw APIError(
                .forbidden,
                "human_required",
                "Approvals can only be decided with a human's token; this token acts for agent '\(agent)'."
            )
        }
    }
}
