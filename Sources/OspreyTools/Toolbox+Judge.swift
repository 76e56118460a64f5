public import OspreyCore

extension Toolbox {
    /// The `policy.decision` events of `calls`, judged now as ``call(_:context:)`` judges them, for a caller that
    /// stores them in the transaction that requests the calls (one durable write instead of two) and then passes them
    /// back in ``ToolContext/recordedDecisions``. A call that cannot be judged (no such tool, arguments that do not
    /// decode) has none, as in ``call(_:context:)``.
    public func judge(_ calls: [ToolCall], context: ToolContext) -> [ToolCall.ID: EventDraft] {
        var events: [ToolCall.ID: EventDraft] = [:]
        for call in calls {
            guard let tool = tools[call.name], let prepared = try? tool.prepare(call.arguments, context: context) else {
                continue
            }
            let decision = Policy.decide(
                prepared.assessment,
                capabilities: context.capabilities,
                tainted: context.tainted
            )
            events[call.id] = Self.decisionEvent(
                call,
                assessment: prepared.assessment,
                decision: decision,
                context: context
            )
        }
        return events
    }

    static func decisionEvent(
        _ call: ToolCall,
        assessment: ToolAssessment,
        decision: PolicyDecision,
        context: ToolContext
    ) -> EventDraft {
        EventDraft(
            type: .policyDecision,
            actor: .system,
            session: context.sessionID,
            payload: [
                "agent": .string(context.agent), "tool": .string(call.name), "call_id": .string(call.id.rawValue),
                "risk": .string(assessment.risk.rawValue), "verdict": .string(decision.verdict.rawValue),
                "rule": .string(decision.rule), "reason": .string(decision.reason),
                "tainted": .bool(context.tainted),
            ]
        )
    }
}
