import Foundation
public import OspreyCore
import OspreySandbox
import OspreyStore
public import OspreyTools

extension Agent {
    /// Where and under which rules this agent's tools act: its workspace and roots, capabilities, egress, approvals,
    /// the ledger for the policy's decisions.
    func toolContext(session: Session.ID?) -> ToolContext {
        let ledger = store.ledger
        var context = ToolContext(
            workspace: workspace,
            agent: name,
            sessionID: session,
            commandPolicy: commandPolicy,
            sandbox: sandbox,
            egress: EgressPolicy(
                allowedHosts: settings.networkHosts,
                allowedPrivateAddresses: settings.privateAddresses
            ),
            capabilities: Capabilities(settings),
            approvals: approvals,
            record: { draft in try await ledger.append(draft) }
        )
        context.roots = roots
        context.taskID = taskID
        context.toolNames = toolbox.names
        context.redactor = store.ledger.redactor
        context.provenance = store.provenance
        return context
    }

    /// Calls one of this agent's tools for a client outside a run (an MCP host), through the same check point as the
    /// model's calls: the policy (with `tainted` when the client has read untrusted content), approvals, the ledger
    /// (the call's outcome with `actor`), redaction of secrets in the output.
    public func callTool(
        _ name: String,
        arguments: String,
        tainted: Bool,
        actor: Principal,
        progress: (@Sendable (String) -> Void)? = nil
    ) async throws -> ToolResult {
        let call = ToolCall(
            id: ToolCall.ID("mcp_" + UUID().uuidString.lowercased().prefix(12)),
            name: name,
            arguments: arguments
        )
        var context = toolContext(session: nil)
        context.tainted = tainted || startsTainted
        if let progress { context.progress = { _, message in progress(message) } }
        let result = try await toolbox.call(call, context: context)
        let output = store.ledger.redactor.redact(result.output)
        try await store.ledger.append(
            EventDraft(
                type: result.isError ? .toolCallFailed : .toolCallCompleted,
                actor: actor,
                payload: [
                    "agent": .string(self.name), "tool": .string(name), "call_id": .string(call.id.rawValue),
                    "output": .string(String(output.prefix(2000))), "output_bytes": .int(output.utf8.count),
                    "untrusted": .bool(result.untrusted),
                ]
            )
        )
        return ToolResult(callID: call.id, output: output, isError: result.isError, untrusted: result.untrusted)
    }
}
