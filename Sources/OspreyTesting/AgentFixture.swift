import Foundation
public import OspreyAgent
public import OspreyCore
public import OspreyProviders
public import OspreySandbox
public import OspreyStore
public import OspreyTools

/// An agent on an in-memory store with a scripted model and a temp workspace.
public struct AgentFixture: Sendable {
    public let store: Store
    public let directory: TemporaryDirectory
    public let workspace: Workspace
    public var agent: Agent
    public let session: Session

    /// A fresh store (in memory unless `store` is given), workspace (with a `notes.txt`), agent and session; the
    /// model answers through `provider`.
    public init(
        provider: any ModelProvider,
        store: Store? = nil,
        settings: OspreyConfig.Agent = OspreyConfig.Agent(),
        pricing: Pricing? = nil,
        routes: [ModelRoute] = [ModelRoute(provider: "scripted", model: "test")],
        providers: [String: any ModelProvider]? = nil,
        approvals: (any ApprovalGate)? = nil,
        sandbox: Sandbox = Sandbox(rung: .bare),
        toolbox: Toolbox = .builtIn
    ) async throws {
        self.store = try store ?? Store.inMemory()
        let store = self.store
        directory = try TemporaryDirectory(prefix: "osprey-agent")
        workspace = try Workspace(root: directory.url)
        try "The osprey returns at dawn.\nSecond line.\n".write(
            to: directory.url.appendingPathComponent("notes.txt"),
            atomically: true,
            encoding: .utf8
        )
        let router = Router(
            providers: providers ?? ["scripted": provider],
            policy: RetryPolicy(maxAttempts: 1),
            sleep: { _ in }
        )
        let meter = Meter(store: store) { _ in pricing }
        agent = Agent(
            name: "default",
            settings: settings,
            routes: routes,
            router: router,
            toolbox: toolbox,
            store: store,
            meter: meter,
            workspace: workspace,
            sandbox: sandbox,
            approvals: approvals
        )
        session = try await store.sessions.create(actor: .user("test"))
    }

    /// Runs `prompt` in the fixture's session as the user "test".
    public func run(_ prompt: String) async throws -> RunResult {
        try await agent.run(prompt, session: session.id, actor: .user("test")) { _ in }
    }

    /// The types of the ledger's events so far, oldest first.
    public var eventTypes: [String] {
        get async throws { try await store.ledger.events(limit: 1000).map(\.type.rawValue) }
    }
}
