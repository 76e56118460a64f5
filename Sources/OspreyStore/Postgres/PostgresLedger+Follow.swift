import Logging
public import OspreyCore
import PostgresNIO

extension PostgresLedger {
    /// Delivers every matching event after `after`, then each new one as any node commits it, until cancelled.
    ///
    /// It listens before it reads, so nothing committed in between is missed; a notification only says how far the
    /// ledger has come, and what lies between is read from the table, so nothing is skipped or sent twice. A lost
    /// connection (a database restart) is reopened, with a pause that grows to 2 s, and the feed goes on from the
    /// last event sent.
    public func follow(
        after: Int,
        filter: EventFilter = EventFilter(),
        onEvent: (Event) async throws -> Void
    ) async throws {
        var sent = after
        var failures = 0
        // The loop sees PostgreSQL's own errors, to tell a lost connection (reconnect) from anything else (thrown,
        // in the store's words).
        try await PostgresStore.translating {
            while true {
                try Task.checkCancellation()
                do {
                    try await target.withOwnConnection(node: node, logger: logger) { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            sent = try await deliver(after: sent, through: nil, filter: filter, onEvent: onEvent)
                            failures = 0
                            for try await notification in notifications {
                                guard let seq = Int(notification.payload), seq > sent else { continue }
                                sent = try await deliver(after: sent, through: seq, filter: filter, onEvent: onEvent)
                            }
                        }
                    }
                } catch  where !Task.isCancelled && PostgresStore.isConnectionFailure(error) {
                    failures += 1
                    logger.warning("ledger feed lost its connection (\(error)); reconnecting after seq \(sent)")
                    try await Task.sleep(for: .milliseconds(min(2000, 50 << min(failures, 6))))
                }
            }
        }
    }

    /// Sends the matching events in (`after`, `through`] in pages and returns the seq it has read up to.
    private func deliver(
        after: Int,
        through: Int?,
        filter: EventFilter,
        onEvent: (Event) async throws -> Void
    ) async throws -> Int {
        let high: Int
        if let through { high = through } else { high = try await readLastSeq() }
        var cursor = after
        while cursor < high {
            let page = try await read(Self.query(after: cursor, through: high, filter: filter, limit: 500))
            for event in page { try await onEvent(event) }
            guard let last = page.last, page.count == 500 else { return high }
            cursor = last.seq
        }
        return max(cursor, high)
    }
}
