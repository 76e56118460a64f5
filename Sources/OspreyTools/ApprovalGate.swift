public import OspreyCore

/// A human's answer to an ``ApprovalRequest``.
public enum ApprovalOutcome: Hashable, Sendable {
    /// Allowed: once, or for the rest of the session (the same tool with the same arguments).
    case granted(approvalID: String, scope: String)
    case denied(approvalID: String, by: String)
    /// Nobody answered in time: the same as denied.
    case expired(approvalID: String)
}

/// Where tool calls that need a human wait for one: the gateway's approval desk, or a scripted fake in tests.
public protocol ApprovalGate: Sendable {
    /// Asks for (or finds an earlier session grant of) approval of `request`, waiting until a human answers
    /// or the request expires.
    func decide(_ request: ApprovalRequest) async throws -> ApprovalOutcome
}
