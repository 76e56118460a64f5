public import OspreyCore

/// A tool call waiting for a human, bound to a hash of its exact arguments.
public struct ApprovalRequest: Hashable, Sendable {
    public var agent: String
    public var session: String?
    public var callID: String
    public var tool: String
    /// The arguments as the model wrote them (redacted before they are stored or shown).
    public var arguments: String
    /// SHA-256 of the tool name and the canonical JSON of the arguments: a grant covers exactly these.
    public var argumentsHash: String
    public var risk: ToolRisk
    public var rule: String
    public var reason: String

    public init(
        agent: String,
        session: String?,
        callID: String,
        tool: String,
        arguments: String,
        argumentsHash: String,
        risk: ToolRisk,
        rule: String,
        reason: String
    ) {
        self.agent = agent
        self.session = session
        self.callID = callID
        self.tool = tool
        self.arguments = arguments
        self.argumentsHash = argumentsHash
        self.risk = risk
        self.rule = rule
        self.reason = reason
    }
}

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
