public import OspreyCore

extension Sessions {
    /// The last message of every session whose run did not finish: it ends with a user message, tool results,
    /// a compaction summary, or an assistant message that asks for tools. Read at start-up, when no run is in
    /// progress; sessions of queued or running tasks are left out (the supervisor resumes those).
    public func interruptedRuns() async throws -> [StoredMessage] {
        try await writer.read { db in
            try db.rows(
                """
                SELECT m.* FROM messages m
                WHERE m.seq IN (SELECT MAX(seq) FROM messages GROUP BY session_id)
                  AND m.session_id NOT IN (SELECT session FROM tasks WHERE status IN ('queued', 'running'))
                ORDER BY m.seq
                """
            ).map(Self.storedMessage(from:)).filter { $0.message.role != .assistant || !$0.message.toolCalls.isEmpty }
        }
    }
}
