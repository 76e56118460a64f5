/// A tool call waiting for a human, bound to a hash of its exact arguments: what the policy asks (OspreyTools) and
/// what the store keeps (`Approvals.request`), one type on both sides of the module wall.
public struct ApprovalRequest: Hashable, Sendable, Codable {
    public var agent: String
    public var session: Session.ID?
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
        session: Session.ID?,
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

    /// The column and wire names (an approval's stored row and its API form hold these beside its own fields).
    private enum CodingKeys: String, CodingKey {
        case agent, session, tool, arguments, risk, rule, reason
        case callID = "call_id"
        case argumentsHash = "arguments_hash"
    }
}
