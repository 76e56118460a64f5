public import OspreyCore

/// Who a channel's sender is, when it reaches the agent or the approvals.
public struct ChannelCaller: Sendable, Equatable {
    public var channel: String
    public var sender: String
    /// The agent the channel talks to.
    public var agent: String
    /// May answer approvals (the operator mapped the sender as a human approver).
    public var approver: Bool
    public var principal: Principal { .channel(channel, sender: sender) }
}

/// What a run tells the chat while it goes.
public enum ChannelRunEvent: Sendable {
    /// More of the answer.
    case text(String)
    /// The run waits for a human to approve a tool call.
    case approval(id: String, tool: String, detail: String)
}

/// How the hub reaches agents and approvals: the gateway binds these to its one operation table
/// (`sessions.create`, `sessions.send`, `approvals.approve` / `approvals.reject`), so a channel is a door like any
/// other, under the same role checks and policy; everything it carries in is untrusted.
public struct ChannelAgents: Sendable {
    public var createSession: @Sendable (_ caller: ChannelCaller, _ title: String) async throws -> Session.ID
    /// Runs the session's agent on `content` and answers its reply.
    public var send:
        @Sendable (
            _ session: Session.ID, _ content: String, _ caller: ChannelCaller,
            _ progress: @escaping @Sendable (ChannelRunEvent) async -> Void
        ) async throws -> String
    /// Grants or denies an approval.
    public var decide: @Sendable (_ approval: String, _ grant: Bool, _ caller: ChannelCaller) async throws -> Void

    public init(
        createSession: @escaping @Sendable (ChannelCaller, String) async throws -> Session.ID,
        send:
            @escaping @Sendable (
                Session.ID, String, ChannelCaller, @escaping @Sendable (ChannelRunEvent) async -> Void
            ) async throws -> String,
        decide: @escaping @Sendable (String, Bool, ChannelCaller) async throws -> Void
    ) {
        self.createSession = createSession
        self.send = send
        self.decide = decide
    }
}
