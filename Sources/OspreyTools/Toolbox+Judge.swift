public import OspreyCore

extension Toolbox {
    /// The `policy.decision` events of `calls`, judged now as ``call(_:context:)`` judges them, for a caller that
    /// stores them in the transaction that requests the calls (one durable write instead of two) and then passes them
    /// back in ``ToolContext/recordedDecisions``. A call that cannot be judged (no such tool, arguments that do not
    /// decode) has none, as in ``call(_:context:)``.
    public func judge(_ calls: [ToolCall], context: ToolContext) -> [ToolCall.ID: EventDraft] {
        var events: [ToolCall.ID: EventDraft] = [:]
        for call in calls {
            guard let tool = tools[call.name], let judged = try? Self.judge(call, with: tool, context: context) else {
                continue
            }
            events[call.id] = judged.event
        }
        return events
    }

    /// A call prepared by its tool and decided by the policy, with the decision's event.
    struct Judgement {
        var prepared: PreparedCall
        var decision: PolicyDecision
        var event: EventDraft
    }

    /// Decodes the call's arguments and assesses it (its tool's `prepare`, which throws the model's mistakes), then
    /// decides it: the one judgement ``judge(_:context:)`` and ``call(_:context:)`` both make.
    static func judge(_ call: ToolCall, with tool: any Tool, context: ToolContext) throws -> Judgement {
        let prepared = try tool.prepare(call.arguments, context: context)
        let decision = Policy.decide(prepared.assessment, capabilities: context.capabilities, tainted: context.tainted)
        return Judgement(
            prepared: prepared,
            decision: decision,
            event: decisionEvent(call, assessment: prepared.assessment, decision: decision, context: context)
        )
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
