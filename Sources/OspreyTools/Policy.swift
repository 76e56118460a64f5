public import OspreyCore

/// How an agent may run commands.
public enum ExecMode: String, Hashable, Sendable, CaseIterable {
    /// No commands at all.
    case none
    /// Only programs in the agent's `exec_allow` list, under the OS sandbox.
    case allowlist
    /// Any program the blacklist lets through, under the OS sandbox.
    case sandboxed
    /// Any program, under rlimits, Landlock and seccomp but without bubblewrap's namespaces.
    case full
}

/// Which tool calls wait for a human.
public enum ApprovalMode: String, Hashable, Sendable, CaseIterable {
    /// Everything but reads.
    case manual
    /// Commands beyond the agent's `exec_allow` programs, and dangerous calls.
    case allowlist
    /// Dangerous calls only (and exec after untrusted content, as in every mode).
    case autonomous
}

/// What an agent may do: deny by default, read from its `[agents.NAME]` table.
public struct Capabilities: Hashable, Sendable {
    public var exec: ExecMode
    public var approval: ApprovalMode
    /// Programs `allowlist` exec mode permits, and that approval mode `allowlist` runs without asking.
    public var execAllow: Set<String>
    /// Absolute directories readable besides the workspace (their content is untrusted).
    public var readRoots: [String]
    /// Absolute directories writable besides the workspace.
    public var writeRoots: [String]
    /// Whether commands may reach the network: only the agent's network hosts, only through the egress proxy.
    public var commandNetwork: Bool
    /// A read-only persona's run: no file writes, no commands, nothing dangerous.
    public var readOnly = false
    /// How far the agent may reach into the host the gateway runs on (`[agents.NAME] host`): system tools need it.
    public var host: HostAccess = .none

    public init(
        exec: ExecMode = .sandboxed,
        approval: ApprovalMode = .allowlist,
        execAllow: Set<String> = [],
        readRoots: [String] = [],
        writeRoots: [String] = [],
        commandNetwork: Bool = false
    ) {
        self.exec = exec
        self.approval = approval
        self.execAllow = execAllow
        self.readRoots = readRoots
        self.writeRoots = writeRoots
        self.commandNetwork = commandNetwork
    }

    /// The capabilities an agent's config grants.
    public init(_ settings: OspreyConfig.Agent) {
        self.init(
            exec: ExecMode(rawValue: settings.exec) ?? .none,
            approval: ApprovalMode(rawValue: settings.approval) ?? .manual,
            execAllow: Set(settings.execAllow),
            readRoots: settings.readRoots,
            writeRoots: settings.writeRoots
        )
        readOnly = settings.readOnly
        commandNetwork = settings.commandNetwork
        host = HostAccess(rawValue: settings.host) ?? .none
    }
}

/// What a tool says about one call before it runs: its risk, and anything that forbids it or needs a human.
public struct ToolAssessment: Hashable, Sendable {
    public var risk: ToolRisk
    /// A reason no mode may override (the command blacklist, a path outside every root).
    public var refusal: String?
    /// The rule behind ``refusal``.
    public var refusalRule = "blacklist"
    /// A reason a human must approve, whatever the approval mode (inline interpreter code).
    public var approvalReason: String?
    /// The programs a command line would run (for the exec allowlist).
    public var programs: [String] = []
    /// Whether the tool's output comes from outside the trust boundary (network, files outside the workspace).
    public var untrustedOutput = false
    /// The file or directory a file tool touches, as an absolute path (for its provenance).
    public var filePath: String?
    /// True when the call writes ``filePath``.
    public var writesFile = false
    /// The host access the call needs (the system tools); nil for a call that does not touch the host.
    public var host: HostAccess?

    public init(risk: ToolRisk, untrustedOutput: Bool = false) {
        self.risk = risk
        self.untrustedOutput = untrustedOutput
    }
}

/// The policy's answer for one tool call, with the rule that decided it.
public struct PolicyDecision: Hashable, Sendable {
    public enum Verdict: String, Hashable, Sendable {
        case allow, deny, approve
    }
    public var verdict: Verdict
    /// Which rule decided: `blacklist`, `fs_roots`, `host`, `persona`, `exec_mode`, `exec_allowlist`, `interpreter`,
    /// `dangerous`, `taint`, `approval_mode`.
    public var rule: String
    public var reason: String

    public init(_ verdict: Verdict, rule: String, reason: String) {
        self.verdict = verdict
        self.rule = rule
        self.reason = reason
    }
}

/// The one check point between a model's tool call and its effect: a pure function of the call's
/// assessment, the agent's capabilities and whether untrusted content is in the context.
public enum Policy {
    public static func decide(
        _ assessment: ToolAssessment,
        capabilities: Capabilities,
        tainted: Bool
    ) -> PolicyDecision {
        if let refusal = assessment.refusal {
            return PolicyDecision(.deny, rule: assessment.refusalRule, reason: refusal)
        }
        if let needed = assessment.host, capabilities.host < needed {
            return PolicyDecision(
                .deny,
                rule: "host",
                reason: "this agent may not \(needed == .read ? "read" : "change") the host: its config.toml needs "
                    + "host = \"\(needed.rawValue)\""
            )
        }
        if assessment.host == .operate, capabilities.readOnly {
            return PolicyDecision(.deny, rule: "persona", reason: "a read-only persona may not change the host")
        }
        let isExec = assessment.risk == .exec || (assessment.risk == .dangerous && !assessment.programs.isEmpty)
        if capabilities.readOnly, isExec || assessment.writesFile || [.write, .dangerous].contains(assessment.risk) {
            return PolicyDecision(.deny, rule: "persona", reason: "a read-only persona may not write or run anything")
        }
        let foreign = assessment.programs.filter { !capabilities.execAllow.contains($0) }
        if isExec {
            switch capabilities.exec {
            case .none:
                return PolicyDecision(.deny, rule: "exec_mode", reason: "this agent may not run commands (exec = none)")
            case .allowlist where !foreign.isEmpty:
                return PolicyDecision(
                    .deny,
                    rule: "exec_allowlist",
                    reason: "\(foreign.joined(separator: ", ")) not in this agent's exec_allow list"
                )
            default:
                break
            }
        }
        if let reason = assessment.approvalReason {
            return PolicyDecision(.approve, rule: "interpreter", reason: reason)
        }
        if assessment.risk == .dangerous {
            return PolicyDecision(.approve, rule: "dangerous", reason: "a dangerous action needs a human's approval")
        }
        // Taint (docs/architecture.md, "Taint"): once untrusted content is in the context, anything that can act
        // on the host or carry data out (commands, network calls) waits for a human, whatever the approval mode.
        if tainted && (isExec || assessment.risk == .network) {
            return PolicyDecision(
                .approve,
                rule: "taint",
                reason: isExec
                    ? "a command after untrusted content needs a human's approval"
                    : "a network call after untrusted content could carry data out; it needs a human's approval"
            )
        }
        switch (capabilities.approval, assessment.risk) {
        case (_, .read):
            return PolicyDecision(.allow, rule: "approval_mode", reason: "reads run without approval")
        case (.manual, _):
            return PolicyDecision(.approve, rule: "approval_mode", reason: "approval mode manual")
        case (.allowlist, .exec) where !foreign.isEmpty:
            return PolicyDecision(
                .approve,
                rule: "approval_mode",
                reason: "approval mode allowlist: \(foreign.joined(separator: ", ")) not in exec_allow"
            )
        default:
            return PolicyDecision(
                .allow,
                rule: "approval_mode",
                reason: "approval mode \(capabilities.approval.rawValue)"
            )
        }
    }
}

/// How far an agent may reach into the host: `none` (the default), `read` (health, processes, services, logs, network,
/// disks, packages) or `operate` (also kill, start/stop/restart services, install/remove packages, safe switches;
/// each of those still a dangerous call a human approves).
public enum HostAccess: String, Hashable, Sendable, Comparable, CaseIterable {
    case none, read, operate

    private var rank: Int {
        switch self {
        case .none: 0
        case .read: 1
        case .operate: 2
        }
    }

    public static func < (lhs: HostAccess, rhs: HostAccess) -> Bool { lhs.rank < rhs.rank }
}
