import Foundation
public import OspreyCore
public import OspreySandbox
public import OspreyTools

/// Where tools act, for agents and routines alike: the workspace jail, the command policy that protects the
/// home's own files, and the OS sandbox rung resolved at start-up (fail closed when a layer is missing).
public struct Confinement: Sendable {
    public let workspace: Workspace
    public let commandPolicy: CommandPolicy
    public let sandbox: Sandbox

    /// Built from the config and the home; `sandbox` overrides the resolved rung (tests pin one).
    public init(config: OspreyConfig, home: Home, sandbox: Sandbox? = nil) throws {
        self.workspace = try Workspace(root: home.workspaceDirectory)
        var hidden = [home.root.path]
        if let user = ProcessInfo.processInfo.environment["HOME"], !user.isEmpty {
            hidden.append(user)
        }
        var limits = Sandbox.Limits()
        limits.memoryBytes = config.sandbox.memoryBytes
        limits.processes = config.sandbox.maxProcesses
        var resolved =
            sandbox
            ?? Sandbox.resolve(
                backend: config.sandbox.backend,
                hidden: Array(Set(hidden)).sorted(),
                limits: limits
            )
        if resolved.egressProxy == nil {
            resolved.egressProxy = EgressProxy(directory: Self.egressDirectory(home: home))
        }
        self.sandbox = resolved
        self.commandPolicy = CommandPolicy(protectedPaths: [
            home.configFile.path, home.tokenFile.path, home.secretsDirectory.path, home.databaseFile.path,
            home.lockFile.path, home.owedChargesFile.path,
        ])
    }

    /// Where the egress proxy's per-command sockets live: the home's `run/`, or a private directory under /tmp
    /// when that path is too long for a Unix socket.
    static func egressDirectory(home: Home) -> String {
        let directory = home.root.appendingPathComponent("run").path
        if (directory + "/egress-ffffffff.sock").utf8.count < 108 { return directory }
        return NSTemporaryDirectory() + "osprey-egress-\(getuid())-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The context routines' checks and remediation commands run in.
    func routineContext() -> ToolContext {
        ToolContext(
            workspace: workspace,
            agent: "routine",
            commandTimeout: .seconds(60),
            commandPolicy: commandPolicy,
            sandbox: sandbox
        )
    }
}
