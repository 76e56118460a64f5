public import OspreyCore
public import OspreyStore

/// The approval the approval tests ask for: `make`, needing an exec grant.
public enum ApprovalSamples {
    public static let draft = Approvals.Draft(
        agent: "default",
        session: Session.ID("ses_1"),
        callID: "call_1",
        tool: "run_command",
        arguments: #"{"command":"make"}"#,
        argumentsHash: "h1",
        risk: .exec,
        rule: "approval_mode",
        reason: "make not in exec_allow"
    )

    public static func request(_ hash: String = "h1") -> ApprovalRequest {
        ApprovalRequest(
            agent: "default",
            session: Session.ID("ses_1"),
            callID: "call_1",
            tool: "run_command",
            arguments: #"{"command":"make"}"#,
            argumentsHash: hash,
            risk: .exec,
            rule: "approval_mode",
            reason: "make not in exec_allow"
        )
    }

    /// Waits until the store holds a pending approval, and returns it.
    public static func pending(_ store: Store) async throws -> Approval {
        // A generous deadline: the run that asks may be a Python client that is still starting on a busy machine.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let first = try await store.approvals.list(status: .pending).first { return first }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ProcessFailure(message: "no approval was requested")
    }
}
