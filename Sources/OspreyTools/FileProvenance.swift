public import Foundation
public import OspreyCore

/// Where the provenance of workspace files is kept: which ones a tainted run wrote.
public protocol FileProvenance: Sendable {
    /// Records that a run with untrusted content in its context wrote `path`.
    func recordTaintedWrite(_ path: String, session: Session.ID?, agent: String) async throws
    /// Whether `path`, or any file below it, was written by a tainted run.
    func holdsTaintedContent(_ path: String) async throws -> Bool
    /// Puts a tainted run's command on record before it runs (the folders it may write, when it starts), so what it
    /// changes is recorded even if the gateway dies while it runs; returns its id.
    func beginTaintedCommand(
        directories: [String],
        since: Date,
        session: Session.ID?,
        agent: String
    ) async throws
        -> String
    /// Records the files a tainted command changed and takes it off record.
    func endTaintedCommand(_ id: String, changed: [String]) async throws
}

extension FileProvenance {
    /// Ends a tainted command's record with the files changed in its folders since it began (at most 20,000 looked
    /// at per folder).
    public func endTaintedCommand(_ id: String, directories: [String], since: Date) async throws {
        let changed = try await Workspace.offload {
            directories.flatMap { Workspace.files(under: URL(fileURLWithPath: $0), modifiedSince: since) }
        }
        try await endTaintedCommand(id, changed: changed)
    }
}

/// A command of a tainted run, on record while it runs (``FileProvenance/beginTaintedCommand(directories:since:session:agent:)``):
/// what it changes in the workspace and the writable roots is tainted, recorded when it ends however it ends, and by
/// the gateway's next start if it dies while the command runs.
struct TaintedCommand: Sendable {
    let id: String
    let directories: [String]
    let since: Date
    let provenance: any FileProvenance

    /// Puts the call on record when it is a command of a tainted run (a shell command or a program it names);
    /// nil for any other call.
    static func begin(_ assessment: ToolAssessment, context: ToolContext) async throws -> TaintedCommand? {
        guard context.tainted, let provenance = context.provenance,
            assessment.risk == .exec || !assessment.programs.isEmpty
        else { return nil }
        let directories = ([context.workspace.root] + context.roots.filter(\.writable).map(\.directory.root)).map(
            \.path
        )
        let since = Date(timeIntervalSinceNow: -0.05)  // the kernel's coarse file clock lags a little
        let id = try await provenance.beginTaintedCommand(
            directories: directories,
            since: since,
            session: context.sessionID,
            agent: context.agent
        )
        return TaintedCommand(id: id, directories: directories, since: since, provenance: provenance)
    }

    /// Records what the command changed and takes it off record; also from a cancelled call (in a task of its own,
    /// which the caller's cancellation does not reach).
    func end() async throws {
        try await Task { try await provenance.endTaintedCommand(id, directories: directories, since: since) }.value
    }
}
