import Foundation
public import OspreyCore

/// A `sessions` row, with its `message_count` when the query counts them (0 when it does not), read column by column:
/// every message a client sends reads its session (the `Decodable` path, a keyed container per row, took about half
/// of that read).
extension Session: SQLRecord {
    public init(row: SQLRow) throws {
        func date(_ column: String) throws -> Date {
            guard let date = try row.timestamp(column, of: "sessions") else {
                throw StoreError.invalid("sessions.\(column) is missing")
            }
            return date
        }
        self.init(
            id: ID(row["id"] as String),
            agent: row["agent"],
            title: row.optional("title"),
            createdAt: try date("created_at"),
            updatedAt: try date("updated_at"),
            messageCount: row.optional("message_count") ?? 0,
            persona: row.optional("persona")
        )
    }
}
