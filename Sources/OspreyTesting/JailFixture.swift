import Foundation
public import OspreyCore
public import OspreyTools

/// A workspace inside a temp dir, with a canary file beside it (outside) that no tool may read.
public struct JailFixture: Sendable {
    public let directory: TemporaryDirectory
    public let workspace: Workspace
    /// The text of the secret file outside the workspace; no tool output may contain it.
    public static let canary = "CANARY-7f3a-outside-the-workspace"

    /// A new temp directory with `ws/notes.txt`, the canary outside, and two symlinks out of `ws`.
    public init() throws {
        directory = try TemporaryDirectory(prefix: "osprey-jail")
        let outside = directory.url.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Self.canary.write(to: outside.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        workspace = try Workspace(root: directory.url.appendingPathComponent("ws"))
        try "hello\nworld\n".write(
            to: workspace.root.appendingPathComponent("notes.txt"),
            atomically: true,
            encoding: .utf8
        )
        try FileManager.default.createSymbolicLink(
            atPath: workspace.root.appendingPathComponent("link-out").path,
            withDestinationPath: outside.path
        )
        try FileManager.default.createSymbolicLink(
            atPath: workspace.root.appendingPathComponent("escape.txt").path,
            withDestinationPath: outside.appendingPathComponent("secret.txt").path
        )
    }

    /// A tool context on the workspace: a 5 s command time-out, 4 KiB of output.
    public var context: ToolContext {
        ToolContext(workspace: workspace, commandTimeout: .seconds(5), outputLimit: 4096)
    }

    /// Calls a built-in tool, with the fixture's context changed by `adjust` (a sandbox rung, an egress policy).
    public func call(
        _ name: String,
        _ arguments: String,
        adjust: (inout ToolContext) -> Void = { _ in }
    ) async throws -> ToolResult {
        var context = context
        adjust(&context)
        return try await Toolbox.builtIn.call(
            ToolCall(id: ToolCall.ID("c"), name: name, arguments: arguments),
            context: context
        )
    }
}
