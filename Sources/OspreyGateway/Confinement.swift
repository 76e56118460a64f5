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
        self.sandbox =
            sandbox
            ?? Sandbox.resolve(
                backend: config.sandbox.backend,
                hidden: Array(Set(hidden)).sorted(),
                limits: limits
            )
        self.commandPolicy = CommandPolicy(protectedPaths: [
            home.configFile.path, home.tokenFile.path, home.secretsDirectory.path, home.databaseFile.path,
            home.lockFile.path,
        ])
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
