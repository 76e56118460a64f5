import Foundation
public import OspreyCore

/// Which workspace files were written by a run with untrusted content in its context.
///
/// Reading such a file back is reading untrusted content, in the same run or any later one, so the workspace cannot
/// launder taint: the file tools consult this before they return a file's text.
public struct Provenance: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// Records a tainted write of `path` with its `file.tainted` event (once per path and session).
    public func recordTaintedWrite(_ path: String, session: Session.ID?, agent: String) async throws {
        try await writer.transaction { db in
            let known =
                try db.value(
                    Bool.self,
                    // `IS ?` is SQLite's; this form is both engines'.
                    """
                    SELECT 1 FROM file_provenance
                    WHERE path = ? AND (session = ? OR (session IS NULL AND CAST(? AS TEXT) IS NULL))
                    """,
                    [path, session?.rawValue, session?.rawValue]
                ) ?? false
            if known { return }
            try db.execute(
                """
                INSERT INTO file_provenance (path, session, agent, written_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(path) DO UPDATE SET session = excluded.session, agent = excluded.agent,
                    written_at = excluded.written_at
                """,
                [path, session?.rawValue, agent, WireFormat.timestamp(Date())]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .fileTainted,
                        actor: .agent(agent),
                        session: session,
                        payload: ["path": .string(path)]
                    )
                ],
                in: db
            )
        }
    }

    /// Whether `path` or anything below it was written by a tainted run.
    public func holdsTaintedContent(_ path: String) async throws -> Bool {
        try await writer.read { db in
            try db.value(
                Bool.self,
                "SELECT 1 FROM file_provenance WHERE path = ? OR substr(path, 1, CAST(? AS INTEGER)) = ? LIMIT 1",
                [path, path.count + 1, path.hasSuffix("/") ? path : path + "/"]
            ) ?? false
        }
    }
}
