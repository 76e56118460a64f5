public import Foundation
public import OspreyCore

/// What several gateways sharing one PostgreSQL database need of the tasks: the cluster's caps at a start, the
/// heartbeat that keeps a running task its gateway's, and the adoption of a silent gateway's tasks.
extension Tasks {
    /// The caps a start is checked against on a shared PostgreSQL database: all gateways' running tasks, and
    /// those of the task's provider.
    public struct ClusterCaps: Hashable, Sendable {
        public var overall: Int
        public var provider: String
        public var perProvider: Int
        public init(overall: Int, provider: String, perProvider: Int) {
            self.overall = overall
            self.provider = provider
            self.perProvider = perProvider
        }
    }

    /// Throws ``AtCapacity`` when the gateways together run `caps.overall` tasks, or `caps.perProvider` of its
    /// provider's (workflow and spec coordinators aside), inside the start's transaction.
    static func check(_ caps: ClusterCaps, in db: SQLConnection) throws {
        let counts = try db.row(
            """
            SELECT COUNT(*) AS running, COUNT(*) FILTER (WHERE provider = ?) AS provider FROM tasks
            WHERE status = 'running' AND workflow IS NULL AND seed IS NULL
            """,
            [caps.provider]
        )
        let running: Int = counts?["running"] ?? 0
        let provider: Int = counts?["provider"] ?? 0
        if running >= caps.overall { throw AtCapacity(running: running, cap: caps.overall, provider: nil) }
        if provider >= caps.perProvider {
            throw AtCapacity(running: provider, cap: caps.perProvider, provider: caps.provider)
        }
    }

    /// The gateways together already run as many tasks (of this provider, when `provider` is set) as the cap
    /// allows: the task stays queued.
    public struct AtCapacity: Error, Hashable, Sendable, CustomStringConvertible {
        public var running: Int
        public var cap: Int
        public var provider: String?
        public var description: String {
            "\(running) tasks\(provider.map { " of provider \($0)" } ?? "") already run on the cluster (cap \(cap))"
        }
    }

    /// Records that a running task is alive (no event: heartbeats are not history); false when the task is no
    /// longer this gateway's to run (finished, cancelled, or adopted by another gateway after its lease ran out).
    @discardableResult
    public func heartbeat(_ id: TaskRecord.ID) async throws -> Bool {
        try await writer.transaction { [node] db in
            try db.execute(
                "UPDATE tasks SET heartbeat_at = ? WHERE id = ? AND status = 'running' AND COALESCE(node, '') = ?",
                [WireFormat.timestamp(Date()), id.rawValue, node]
            )
            return db.changesCount > 0
        }
    }

    /// On a PostgreSQL database several gateways share: takes over the running tasks of gateways whose heartbeat is
    /// older than `lease` (a gateway that died, or lost the database), each with `task.adopted`, and returns them
    /// to be resumed here as after a local crash. Each takeover is conditional on the heartbeat it saw, so when
    /// several gateways sweep at once one adopts a task. On SQLite (one gateway) there is nothing to adopt.
    ///
    /// Heartbeats are the writers' clock times: the gateways' clocks must agree to well within the lease.
    public func adoptOrphans(lease: Duration, now: Date = Date()) async throws -> [TaskRecord] {
        guard !node.isEmpty else { return [] }
        let cutoff = WireFormat.timestamp(now.addingTimeInterval(-Double(lease.components.seconds)))
        let orphans = try await writer.read { [node] db in
            try db.rows(
                """
                SELECT id, node, heartbeat_at FROM tasks
                WHERE status = 'running' AND COALESCE(node, '') <> ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)
                ORDER BY priority DESC, created_at, id
                """,
                [node, cutoff]
            ).map {
                (
                    id: TaskRecord.ID($0["id"] as String), node: ($0["node"] as String?) ?? "",
                    seen: $0["heartbeat_at"] as String?
                )
            }
        }
        var adopted: [TaskRecord] = []
        for orphan in orphans {
            let task = try await writer.transaction { [node, ledger] db -> TaskRecord? in
                try db.execute(
                    """
                    UPDATE tasks SET node = ?, heartbeat_at = ?
                    WHERE id = ? AND status = 'running' AND COALESCE(node, '') = ? AND heartbeat_at IS NOT DISTINCT FROM ?
                    """,
                    [node, WireFormat.timestamp(now), orphan.id.rawValue, orphan.node, orphan.seen]
                )
                guard db.changesCount > 0 else { return nil }  // it beat, finished, or another gateway took it
                let task = try Self.fetch(orphan.id, in: db)
                _ = try ledger.append(
                    [
                        EventDraft(
                            type: .taskAdopted,
                            actor: .system,
                            session: task.session,
                            task: task.id,
                            payload: [
                                "from": .string(orphan.node), "node": .string(node),
                                "last_heartbeat": orphan.seen.map(JSONValue.string) ?? .null,
                            ]
                        )
                    ],
                    in: db
                )
                return task
            }
            if let task { adopted.append(task) }
        }
        return adopted
    }
}
