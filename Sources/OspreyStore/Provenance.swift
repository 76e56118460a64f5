public import Foundation
public import OspreyCore

/// Which workspace files were written by a run with untrusted content in its context.
///
/// Reading such a file back is reading untrusted content, in the same run or any later one, so the workspace cannot
/// launder taint: the file tools consult this before they return a file's text.
public struct Provenance: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// The gateway this store serves ("" on SQLite): a command under way is this node's to finish.
    let node: String

    /// Records a tainted write of `path` with its `file.tainted` event (once per path and session).
    public func recordTaintedWrite(_ path: String, session: Session.ID?, agent: String) async throws {
        try await writer.transaction { db in try record(path, session: session, agent: agent, in: db) }
    }

    private func record(_ path: String, session: Session.ID?, agent: String, in db: SQLConnection) throws {
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
            [EventDraft(type: .fileTainted, actor: .agent(agent), session: session, payload: ["path": .string(path)])],
            in: db
        )
    }

    /// A command of a tainted run that is under way, or was when its gateway died: what it changes in its folders
    /// from `since` on is tainted, and is recorded when it ends (``endTaintedCommand(_:changed:)``).
    public struct TaintedCommand: Sendable, Hashable {
        public var id: String
        public var directories: [String]
        public var since: Date
        public var session: Session.ID?
        public var agent: String
    }

    /// Puts a tainted run's command on record before it runs: a gateway that dies while it runs finds it when it
    /// starts again, and records what it changed then (``unfinishedTaintedCommands()``). Returns its id.
    public func beginTaintedCommand(
        directories: [String],
        since: Date,
        session: Session.ID?,
        agent: String
    ) async throws -> String {
        let id = "tcmd_" + Home.randomHex(bytes: 16)
        let folders = JSONValue.array(directories.map(JSONValue.string)).canonicalJSON
        try await writer.transaction { [node] db in
            try db.execute(
                """
                INSERT INTO tainted_commands (id, node, session, agent, directories, since)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                [id, node, session?.rawValue, agent, folders, WireFormat.timestamp(since)]
            )
        }
        return id
    }

    /// Records the files a tainted command changed and takes the command off record, in one transaction.
    public func endTaintedCommand(_ id: String, changed: [String]) async throws {
        try await writer.transaction { db in
            guard let row = try db.rows("SELECT session, agent FROM tainted_commands WHERE id = ?", [id]).first
            else { return }
            let session = row.optional("session", as: String.self).map { Session.ID($0) }
            let agent: String = row["agent"]
            for path in changed { try record(path, session: session, agent: agent, in: db) }
            try db.execute("DELETE FROM tainted_commands WHERE id = ?", [id])
        }
    }

    /// This gateway's tainted commands that never ended: it died while they ran.
    public func unfinishedTaintedCommands() async throws -> [TaintedCommand] {
        try await writer.read { [node] db in
            try db.rows(
                "SELECT id, session, agent, directories, since FROM tainted_commands WHERE node = ? ORDER BY since",
                [node]
            ).map { row in
                let folders = (try? JSONValue.parse(row["directories"] as String))?.arrayValue ?? []
                let since = WireFormat.date(from: row["since"] as String) ?? .distantPast
                return TaintedCommand(
                    id: row["id"],
                    directories: folders.compactMap(\.stringValue),
                    // A second earlier than written: the timestamp keeps milliseconds, the files' clock is coarse.
                    since: since.addingTimeInterval(-1),
                    session: row.optional("session", as: String.self).map { Session.ID($0) },
                    agent: row["agent"]
                )
            }
        }
    }

    /// Whether `path` or anything below it was written by a tainted run, or may be being written by one now: a
    /// tainted command under way on this gateway may change anything in its folders, and what it changed is recorded
    /// only when it ends, so until then a read there (or of a folder that holds one of them) is untrusted.
    public func holdsTaintedContent(_ path: String) async throws -> Bool {
        try await writer.read { [node] db in
            let written =
                try db.value(
                    Bool.self,
                    "SELECT 1 FROM file_provenance WHERE path = ? OR substr(path, 1, CAST(? AS INTEGER)) = ? LIMIT 1",
                    [path, path.count + 1, path.hasSuffix("/") ? path : path + "/"]
                ) ?? false
            if written { return true }
            func holds(_ outer: String, _ inner: String) -> Bool {
                inner == outer || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
            }
            for folders in try db.values(String.self, "SELECT directories FROM tainted_commands WHERE node = ?", [node])
            {
                let directories = (try? JSONValue.parse(folders))?.arrayValue?.compactMap(\.stringValue) ?? []
                if directories.contains(where: { holds($0, path) || holds(path, $0) }) { return true }
            }
            return false
        }
    }
}
