import Foundation
import GRDB
public import OspreyCore

extension Sessions {
    /// The last message of every session whose run did not finish: it ends with a user message, tool results,
    /// a compaction summary, or an assistant message that asks for tools. Read at start-up, when no run is in
    /// progress; sessions of queued or running tasks are left out (the supervisor resumes those).
    public func interruptedRuns() async throws -> [StoredMessage] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT m.* FROM messages m
                    WHERE m.seq IN (SELECT MAX(seq) FROM messages GROUP BY session_id)
                      AND m.session_id NOT IN (SELECT session FROM tasks WHERE status IN ('queued', 'running'))
                    ORDER BY m.seq
                    """
            ).compactMap { row -> StoredMessage? in
                let content = try WireFormat.decoder.decode([Content].self, from: Data((row["content"] as String).utf8))
                let message = Message(role: Role(rawValue: row["role"]) ?? .user, content: content)
                guard message.role != .assistant || !message.toolCalls.isEmpty else { return nil }
                return StoredMessage(
                    seq: row["seq"],
                    sessionID: Session.ID(row["session_id"] as String),
                    message: message,
                    createdAt: WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
                )
            }
        }
    }
}
