/// How much harm a tool call can do, from the policy's point of view. Stored with approvals as its raw value.
public enum ToolRisk: String, Hashable, Sendable, CaseIterable, Codable {
    case read, write, exec, network, dangerous
}
