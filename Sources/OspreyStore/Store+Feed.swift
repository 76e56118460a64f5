public import Logging
import OspreyCore
import PostgresNIO

extension Store {
    /// On PostgreSQL, publishes on this store's bus every event the other gateways on the database commit, in seq
    /// order, until cancelled; on SQLite (one gateway per file) it returns at once.
    ///
    /// Each commit sends `NOTIFY osprey_events` with its last seq; the feed listens, then reads what it has not
    /// seen from the table (so a notification lost with a connection loses nothing) and skips the events this
    /// store committed itself, which its group commit has already published. A lost connection is reopened after a
    /// pause that grows to 2 s, and the feed goes on from the last event it read.
    public func feed(logger: Logger) async {
        guard case .postgres(let engine) = backend else { return }
        commits.localEvents.start()
        defer { commits.localEvents.stop() }
        var cursor: Int?
        var failures = 0
        while !Task.isCancelled {
            do {
                let start: Int
                if let cursor { start = cursor } else { start = try await ledger.lastSeq() }
                cursor = start
                try await engine.target.withOwnConnection(node: engine.node, logger: logger) { connection in
                    try await connection.listen(on: "osprey_events") { notifications in
                        // Listening first, then reading: nothing committed in between is missed.
                        cursor = try await publishRemote(after: cursor ?? start)
                        failures = 0
                        for try await _ in notifications { cursor = try await publishRemote(after: cursor ?? start) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                logger.warning("the ledger feed failed (\(error)); again after seq \(cursor ?? 0)")
                do {
                    try await Task.sleep(for: .milliseconds(min(2000, 50 << min(failures, 6))))
                } catch {
                    return
                }
            }
        }
    }

    /// Publishes the events after `cursor` that other gateways committed; returns the last seq read.
    private func publishRemote(after cursor: Int) async throws -> Int {
        var cursor = cursor
        while true {
            let page = try await ledger.events(after: cursor, limit: 500)
            let remote = page.filter { !commits.localEvents.isLocal($0.id) }
            // Another gateway changed schedules (or paused or resumed an agent's, with its budget): the trigger
            // schedules kept in memory are read again.
            if remote.contains(where: {
                $0.type.rawValue.hasPrefix("schedule.") || $0.type.rawValue.hasPrefix("budget.")
            }) {
                schedules.triggerCache.invalidate()
            }
            if !remote.isEmpty { ledger.bus.publish(remote) }
            guard let last = page.last else { return cursor }
            cursor = last.seq
            if page.count < 500 { return cursor }
        }
    }
}
