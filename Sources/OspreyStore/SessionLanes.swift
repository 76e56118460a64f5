import Dispatch
import Foundation
import Logging
public import OspreyCore
import PostgresNIO
import Synchronization

/// A session's lane across the gateways sharing one PostgreSQL database: while a run of the session holds it, no
/// other gateway starts one. Each gateway keeps its own lanes in order (its `RunRegistry`); this is the one lock
/// they all honour.
///
/// A lane is a session-level advisory lock in PostgreSQL's two-key space (which never meets the one-key locks of the
/// ledger and schema), taken on a connection of the gateway's own: a gateway that dies, or loses that connection,
/// lets go of every lane it held, so no lane outlives its gateway. A free lane is taken on the gateway's one lanes
/// connection; a taken one is waited for in PostgreSQL's own lock queue, on a connection of its own that then holds
/// it until it is let go of, so the gateways' waiting runs get the lane in the order they asked (within a gateway,
/// only the first of its waiting runs asks).
public final class SessionLanes: Sendable {
    private let target: PostgresTarget
    private let node: String
    private let engine: PostgresEngine
    private let queue = DispatchQueue(label: "osprey.store.postgres.lanes")
    private let connection = Mutex<PostgresBlockingConnection?>(nil)
    /// The lanes this gateway holds on its lanes connection, each with how many of its runs hold it (one, unless a
    /// key is shared).
    private let held = Mutex<[Int32: Int]>([:])
    /// The lanes this gateway waited for, by session (two sessions may share a key), each held by the connection it
    /// waited on.
    private let waited = Mutex<[Session.ID: PostgresBlockingConnection]>([:])

    init(engine: PostgresEngine) {
        self.engine = engine
        self.target = engine.target
        self.node = engine.node
    }

    /// The lock's second key: 32 bits of the session id's SHA-256 (two sessions that share it only wait for each
    /// other). The first key is Osprey's ("os").
    static func key(_ session: Session.ID) -> Int32 { named(session.rawValue) }

    static let space: Int32 = 0x6f73

    /// Waits until this gateway holds the session's lane, in PostgreSQL's queue when another holds it; cancellation
    /// ends the wait (its connection is closed, which withdraws the request).
    public func acquire(_ session: Session.ID) async throws {
        if try await tryAcquire(session) { return }
        let key = Self.key(session)
        let (target, node, logger) = (target, node, engine.logger)
        let aside = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        try PostgresBlockingConnection.connect(to: target, node: node + ":lane", logger: logger)
                    }
                )
            }
        }
        do {
            try await withTaskCancellationHandler {
                // Literal keys: both are numbers this type made.
                let rows = try await aside.connection.query(
                    PostgresQuery(unsafeSQL: "SELECT pg_advisory_lock(\(Self.space), \(key))"),
                    logger: logger
                )
                for try await _ in rows {}
            } onCancel: {
                aside.connection.close().whenComplete { _ in withExtendedLifetime(aside) {} }
            }
        } catch {
            aside.connection.close().whenComplete { _ in withExtendedLifetime(aside) {} }
            if Task.isCancelled { throw CancellationError() }
            throw PostgresBlockingConnection.translated(error)
        }
        waited.withLock { $0[session] = aside }
    }

    /// Lets go of the session's lane: closes the connection it was waited for on, or unlocks it on the lanes
    /// connection (queued behind any lock of this gateway's there).
    public func release(_ session: Session.ID) {
        let key = Self.key(session)
        if let aside = waited.withLock({ $0.removeValue(forKey: session) }) {
            DispatchQueue.global().async { aside.close() }
            return
        }
        queue.async {
            let last = self.held.withLock { held -> Bool in
                let count = (held[key] ?? 1) - 1
                held[key] = count > 0 ? count : nil
                return count <= 0
            }
            guard last else { return }
            do {
                _ = try self.open().rows(
                    "SELECT pg_advisory_unlock(CAST(? AS INTEGER), CAST(? AS INTEGER))",
                    [.integer(Int64(Self.space)), .integer(Int64(key))]
                )
            } catch {
                // The connection is gone, and with it every lane it held.
                self.engine.logger.warning("a session lane could not be let go of: \(error)")
            }
        }
    }

    /// Takes the session's lane if no other gateway holds it; false, at once, if one does.
    public func tryAcquire(_ session: Session.ID) async throws -> Bool {
        let key = Self.key(session)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(
                    with: Result {
                        // A lane this gateway already holds (another of its runs, on a shared key) is taken again.
                        if self.held.withLock({ $0[key] != nil }) {
                            self.held.withLock { $0[key, default: 0] += 1 }
                            return true
                        }
                        guard try self.tryLock(space: Self.space, key) else { return false }
                        self.held.withLock { $0[key] = 1 }
                        return true
                    }
                )
            }
        }
    }

    /// Claims this gateway's node name on the database for as long as its store is open (the same lock space as the
    /// lanes, another first key): false when a live gateway already runs under that name. Two gateways with one
    /// name would each take the other's running tasks for their own.
    public func holdNode() async throws -> Bool {
        try await hold(space: Self.nodeSpace, Self.named("node:" + node))
    }

    /// Claims the chat channel `name` for this gateway while its store is open: false when another gateway runs it.
    /// A channel's updates are fetched and answered by one gateway at a time, or each would answer every message.
    public func holdChannel(_ name: String) async throws -> Bool {
        try await hold(space: Self.channelSpace, Self.named("channel:" + name))
    }

    static let nodeSpace: Int32 = 0x6e64
    static let channelSpace: Int32 = 0x6368

    /// 32 bits of `text`'s SHA-256, a lock's second key.
    static func named(_ text: String) -> Int32 {
        Int32(bitPattern: UInt32(Event.sha256Hex(text).prefix(8), radix: 16) ?? 0)
    }

    /// Takes a lock held until this store closes (or its connection goes); false when another session holds it.
    private func hold(space: Int32, _ key: Int32) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.tryLock(space: space, key) }) }
        }
    }

    /// `pg_try_advisory_lock(space, key)` on the lanes connection; only on ``queue``.
    private func tryLock(space: Int32, _ key: Int32) throws -> Bool {
        let rows = try open().rows(
            "SELECT pg_try_advisory_lock(CAST(? AS INTEGER), CAST(? AS INTEGER)) AS locked",
            [.integer(Int64(space)), .integer(Int64(key))]
        )
        return (rows.first?["locked"] as Bool?) == true
    }

    /// The lanes' connection, opened (again) when needed; a new one holds none of the old one's lanes.
    private func open() throws -> PostgresBlockingConnection {
        try connection.withLock { connection in
            if let open = connection, !open.isClosed { return open }
            if connection != nil { held.withLock { $0 = [:] } }
            let opened = try PostgresBlockingConnection.connect(
                to: target,
                node: node + ":lanes",
                logger: engine.logger
            )
            connection = opened
            return opened
        }
    }

    func close() {
        queue.sync {
            connection.withLock { connection in
                connection?.close()
                connection = nil
            }
        }
    }
}
