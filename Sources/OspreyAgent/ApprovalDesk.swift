public import Foundation
public import OspreyCore
public import OspreyStore
public import OspreyTools
import Synchronization

/// The gateway's approval gate: stores each request, lets the run wait until a human decides over the API,
/// WebSocket or CLI, and turns silence into a denial when the request expires.
///
/// The store is the single source of truth: whatever the waiting run sees, it re-reads the final state there,
/// so a grant racing an expiry resolves one way only, and a once-grant is used up by the call it allowed.
public final class ApprovalDesk: ApprovalGate {
    let approvals: Approvals
    let lifetime: Duration
    /// Waits out a request's lifetime; injected so tests advance time instead of sleeping.
    private let wait: @Sendable (Duration) async throws -> Void
    /// Wakes the run waiting on an approval when a human decides it.
    private let waiters = Mutex<[String: AsyncStream<Void>.Continuation]>([:])

    public init(approvals: Approvals, lifetime: Duration, clock: some Clock<Duration> & Sendable = ContinuousClock()) {
        self.approvals = approvals
        self.lifetime = lifetime
        self.wait = { try await clock.sleep(for: $0) }
    }

    public func decide(_ request: ApprovalRequest) async throws -> ApprovalOutcome {
        if let session = request.session,
            let grant = try await approvals.sessionGrant(
                session: session,
                tool: request.tool,
                argumentsHash: request.argumentsHash
            )
        {
            return .granted(approvalID: grant.id.rawValue, scope: "session")
        }
        // Subscribed before the request exists, so a decision made at once (here, or by another gateway on the
        // same database, whose event this gateway's feed publishes) cannot be missed.
        let decisions = approvals.bus.subscribe { [.approvalGranted, .approvalDenied].contains($0.type) }
        let pending = try await approvals.request(request, lifetime: lifetime.timeInterval)
        let id = pending.id.rawValue
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        waiters.withLock { $0[id] = continuation }
        defer { _ = waiters.withLock { $0.removeValue(forKey: id) } }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in stream { return } }
                group.addTask { for await event in decisions where event.payload["id"]?.stringValue == id { return } }
                group.addTask { try await self.wait(self.lifetime) }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            // The run was cancelled: the request must not stay pending for a run that is gone. A cancelled task's
            // database writes are refused, so the settling runs to its end outside the cancellation.
            let approvals = self.approvals
            _ = try? await uncancelled { try await approvals.settle(pending.id) }
            throw error
        }
        // A cancelled run also gets here (its wait ends without an error): settle outside the cancellation, then stop.
        let approvals = self.approvals
        let final = try await uncancelled { try await approvals.settle(pending.id) }
        try Task.checkCancellation()
        switch (final.status, final.scope) {
        case (.used, _), (.granted, .session):
            return .granted(approvalID: id, scope: (final.scope ?? .once).rawValue)
        case (.denied, _):
            return .denied(approvalID: id, by: final.decidedBy ?? "unknown")
        default:
            return .expired(approvalID: id)
        }
    }

    /// Records a human's decision and wakes the run waiting for it.
    public func resolve(
        _ id: Approval.ID,
        grant: Bool,
        scope: ApprovalScope = .once,
        by actor: Principal
    ) async throws -> Approval {
        let approval = try await approvals.decide(id, grant: grant, scope: scope, by: actor)
        let waiter = waiters.withLock { $0[id.rawValue] }
        waiter?.yield()
        waiter?.finish()
        return approval
    }
}
