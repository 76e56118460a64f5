/// Tools that come and go while the gateway runs (an MCP server's: connected after the gateway starts, changed when
/// the server says so), read as they are when a run starts.
public protocol ToolSource: Sendable {
    /// The tools offered now.
    var tools: [any Tool] { get }
    /// Returns once every tool a grant of `names` could reach is offered or known to be unavailable (a server still
    /// connecting is waited for, up to its start limit); names the source does not serve are not waited for.
    func ready(for names: [String]) async
}
