import OspreyCore
import OspreySandbox
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

struct PolicyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var risk: ToolRisk
        var programs: [String] = []
        var mode: ApprovalMode
        var exec: ExecMode = .sandboxed
        var tainted = false
        var interpreter = false
        var refusal = false
        var verdict: PolicyDecision.Verdict
        var rule: String

        var testDescription: String {
            "\(risk) \(programs) \(mode) exec=\(exec) tainted=\(tainted) -> \(verdict) (\(rule))"
        }
    }

    static let cases: [Case] = [
        // Reads never wait, in any mode.
        Case(risk: .read, mode: .manual, verdict: .allow, rule: "approval_mode"),
        Case(risk: .read, mode: .autonomous, tainted: true, verdict: .allow, rule: "approval_mode"),
        // Writes and network: manual asks, the others allow.
        Case(risk: .write, mode: .manual, verdict: .approve, rule: "approval_mode"),
        Case(risk: .write, mode: .allowlist, verdict: .allow, rule: "approval_mode"),
        Case(risk: .network, mode: .manual, verdict: .approve, rule: "approval_mode"),
        Case(risk: .network, mode: .autonomous, verdict: .allow, rule: "approval_mode"),
        // Exec: allowlisted programs run in allowlist mode, others ask; autonomous runs them.
        Case(risk: .exec, programs: ["ls", "grep"], mode: .allowlist, verdict: .allow, rule: "approval_mode"),
        Case(risk: .exec, programs: ["ls", "make"], mode: .allowlist, verdict: .approve, rule: "approval_mode"),
        Case(risk: .exec, programs: ["make"], mode: .autonomous, verdict: .allow, rule: "approval_mode"),
        Case(risk: .exec, programs: ["ls"], mode: .manual, verdict: .approve, rule: "approval_mode"),
        // Exec modes.
        Case(risk: .exec, programs: ["ls"], mode: .autonomous, exec: .none, verdict: .deny, rule: "exec_mode"),
        Case(
            risk: .exec,
            programs: ["make"],
            mode: .autonomous,
            exec: .allowlist,
            verdict: .deny,
            rule: "exec_allowlist"
        ),
        Case(
            risk: .exec,
            programs: ["ls"],
            mode: .autonomous,
            exec: .allowlist,
            verdict: .allow,
            rule: "approval_mode"
        ),
        Case(risk: .dangerous, programs: ["rm"], mode: .autonomous, exec: .none, verdict: .deny, rule: "exec_mode"),
        // Taint: a command after untrusted content needs a human even in autonomous mode.
        Case(risk: .exec, programs: ["ls"], mode: .autonomous, tainted: true, verdict: .approve, rule: "taint"),
        Case(risk: .exec, programs: ["ls"], mode: .allowlist, tainted: true, verdict: .approve, rule: "taint"),
        Case(risk: .write, mode: .autonomous, tainted: true, verdict: .allow, rule: "approval_mode"),
        // A network call after untrusted content could carry data out: gated like a command.
        Case(risk: .network, mode: .autonomous, tainted: true, verdict: .approve, rule: "taint"),
        Case(risk: .network, mode: .allowlist, tainted: true, verdict: .approve, rule: "taint"),
        // Dangerous always asks; inline interpreters always ask; the blacklist always denies.
        Case(risk: .dangerous, programs: ["rm"], mode: .autonomous, verdict: .approve, rule: "dangerous"),
        Case(risk: .dangerous, mode: .autonomous, verdict: .approve, rule: "dangerous"),
        Case(
            risk: .exec,
            programs: ["python3"],
            mode: .autonomous,
            interpreter: true,
            verdict: .approve,
            rule: "interpreter"
        ),
        Case(
            risk: .exec,
            programs: ["rm"],
            mode: .autonomous,
            exec: .full,
            refusal: true,
            verdict: .deny,
            rule: "blacklist"
        ),
    ]

    @Test(arguments: cases)
    func theDecisionFollowsRiskModeExecModeAndTaint(_ example: Case) {
        var assessment = ToolAssessment(risk: example.risk)
        assessment.programs = example.programs
        if example.interpreter { assessment.approvalReason = "inline code" }
        if example.refusal { assessment.refusal = "rm -r / is not allowed" }
        let decision = Policy.decide(
            assessment,
            capabilities: Capabilities(
                exec: example.exec,
                approval: example.mode,
                execAllow: ["ls", "grep", "cat"]
            ),
            tainted: example.tainted
        )
        #expect(decision.verdict == example.verdict)
        #expect(decision.rule == example.rule)
    }

    @Test(arguments: ToolRisk.allCases)
    func aReadOnlyPersonaMayReadAndFetchButNotWriteOrRun(_ risk: ToolRisk) {
        var capabilities = Capabilities(exec: .sandboxed, approval: .autonomous)
        capabilities.readOnly = true
        let decision = Policy.decide(ToolAssessment(risk: risk), capabilities: capabilities, tainted: false)
        switch risk {
        case .read, .network: #expect(decision.verdict == .allow)
        case .write, .exec, .dangerous: #expect(decision.verdict == .deny && decision.rule == "persona")
        }
        // A file write is denied whatever risk its tool gives it.
        var write = ToolAssessment(risk: .read)
        write.writesFile = true
        #expect(Policy.decide(write, capabilities: capabilities, tainted: false).rule == "persona")
    }

    @Test(arguments: [
        ("ls -la", ["ls"], false), ("cat a | grep b && wc -l c", ["cat", "grep", "wc"], false),
        ("rm -rf build", ["rm"], true), ("git push origin main", ["git"], true), ("git status", ["git"], false),
        ("/usr/bin/kill -9 1", ["kill"], true),
    ])
    func commandInventoryNamesEveryProgramAndTheDangerousOnes(line: String, programs: [String], dangerous: Bool) {
        let (found, reason) = CommandPolicy().inventory(line)
        #expect(found == programs)
        #expect((reason != nil) == dangerous)
    }

    /// A decision judged ahead (stored with the reply that asks for the call) is not recorded a second time when the
    /// call runs, unless the call's own judgement differs (here: untrusted content came into the context between).
    @Test func aDecisionJudgedAheadIsRecordedOnceUnlessItChanged() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-judge")
        defer { directory.remove() }
        let recorded = Mutex<[EventDraft]>([])
        var context = ToolContext(
            workspace: try Workspace(root: directory.url),
            capabilities: Capabilities(exec: .sandboxed, approval: .autonomous),
            record: { draft in recorded.withLock { $0.append(draft) } }
        )
        let toolbox = Toolbox.builtIn
        let list = ToolCall(id: ToolCall.ID("call_list"), name: "list_dir", arguments: "{}")
        let run = ToolCall(id: ToolCall.ID("call_run"), name: "run_command", arguments: #"{"command":"ls"}"#)
        let unknown = ToolCall(id: ToolCall.ID("call_nope"), name: "no_such_tool", arguments: "{}")
        let judged = toolbox.judge([list, run, unknown], context: context)
        #expect(Set(judged.keys) == [list.id, run.id])
        #expect(judged[list.id]?.type == .policyDecision)
        #expect(judged[list.id]?.payload["verdict"]?.stringValue == "allow")

        context.recordedDecisions = judged
        _ = try await toolbox.call(list, context: context)
        #expect(recorded.withLock { $0 }.isEmpty)

        // The same call after untrusted content entered the context: a different judgement, recorded.
        context.tainted = true
        _ = try await toolbox.call(list, context: context)
        let again = recorded.withLock { $0 }
        #expect(again.count == 1)
        #expect(again.first?.payload["tainted"] == .bool(true))
        #expect(again.first?.payload["call_id"]?.stringValue == "call_list")
    }

    @Test func anUnknownToolIsDangerousAndItsOutputUntrustedByDefault() throws {
        struct Plugin: Tool {
            struct Arguments: Decodable {}
            var definition: ToolDefinition { ToolDefinition(name: "plugin", description: "", parameters: [:]) }
            func call(_ arguments: Arguments, context: ToolContext) async throws -> String { "" }
        }
        let directory = try TemporaryDirectory(prefix: "osprey-policy")
        defer { directory.remove() }
        let context = ToolContext(workspace: try Workspace(root: directory.url))
        let assessment = Plugin().assess(Plugin.Arguments(), context: context)
        #expect(assessment.risk == .dangerous)
        #expect(assessment.untrustedOutput)
    }
}
