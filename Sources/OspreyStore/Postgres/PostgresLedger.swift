import Foundation
import Logging
public import OspreyCore
import PostgresNIO

/// The one hash-chained ledger of a cluster, in PostgreSQL.
///
/// Every append, from any node, takes a transaction-scoped advisory lock before it reads the head, so the chain never
/// forks and seq order is commit order. The commit also sends `NOTIFY osprey_events, '<last seq>'`: nodes following
/// the ledger (``follow(after:filter:onEvent:)``) read what they have not seen from the table, so a lost or merged
/// notification never loses an event. The rows, hashes and signed head are those of the SQLite ledger, checked by
/// the same walk (``verify()``), so a chain copied from a home verifies on both sides.
public struct PostgresLedger: Sendable {
    let client: PostgresClient
    let commits: PostgresGroupCommit
    let target: PostgresTarget
    let node: String
    let signer: HeadSigner
    let redactor: Redactor
    let logger: Logger
    static let channel = "osprey_events"

    /// Records events in one durable transaction and returns them as stored.
    ///
    /// A connection lost during the commit leaves its outcome unknown; the append is tried again (up to `attempts`
    /// times) with the same event ids, and a retry that finds them stored returns them instead of writing them twice.
    @discardableResult
    public func append(contentsOf drafts: [EventDraft], attempts: Int = 5) async throws -> [Event] {
        guard !drafts.isEmpty else { return [] }
        let ids = drafts.map { _ in Event.ID.random(prefix: "evt") }
        return try await PostgresStore.translating {
            var attempt = 1
            while true {
                do {
                    return try await commits.transaction(savepoint: false) { [attempt] write in
                        try await append(drafts, ids: ids, retry: attempt > 1, in: write)
                    }
                } catch  where attempt < attempts && PostgresStore.isConnectionFailure(error) {
                    logger.warning("ledger append failed (attempt \(attempt)): \(error); trying again")
                    try await Task.sleep(for: .milliseconds(100 << min(attempt, 5)))
                    attempt += 1
                }
            }
        }
    }

    @discardableResult
    public func append(_ draft: EventDraft) async throws -> Event {
        try await append(contentsOf: [draft])[0]
    }

    /// Appends inside a transaction the caller holds, so a state change and its events commit together.
    func append(_ drafts: [EventDraft], in write: PostgresWrite) async throws -> [Event] {
        try await append(drafts, ids: drafts.map { _ in Event.ID.random(prefix: "evt") }, retry: false, in: write)
    }

    private func append(
        _ drafts: [EventDraft],
        ids: [Event.ID],
        retry: Bool,
        in write: PostgresWrite
    )
        async throws -> [Event]
    {
        let connection = write.connection
        var (seq, previous): (Int, String)
        if let head = write.head.value {
            (seq, previous) = head  // an earlier body of this transaction holds the lock and wrote this head
        } else {
            try await connection.run("SELECT pg_advisory_xact_lock(\(PostgresStore.ledgerLock))", logger: logger)
            (seq, previous) = try await last(on: connection)
        }
        if retry, let stored = try await stored(ids, on: connection) { return stored }
        let now = WireFormat.timestamp(Date())
        var events: [Event] = []
        var payloads: [String] = []
        for (draft, id) in zip(drafts, ids) {
            seq += 1
            let (event, payload) = Event.sealed(draft, seq: seq, id: id, ts: now, after: previous, redactor: redactor)
            previous = event.hash
            events.append(event)
            payloads.append(payload)
        }
        try await insert(events, payloads: payloads, on: connection)
        write.head.value = (seq, previous)
        return events
    }

    /// The last event's seq and hash (0 and the genesis hash for an empty ledger).
    private func last(on connection: PostgresConnection) async throws -> (seq: Int, hash: String) {
        var last = (seq: 0, hash: Event.genesisHash)
        for try await row in try await connection.run(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            logger: logger
        ).decode((Int, String).self) {
            last = row
        }
        return last
    }

    /// The events of an earlier attempt whose commit succeeded though its answer was lost, or nil.
    private func stored(_ ids: [Event.ID], on connection: PostgresConnection) async throws -> [Event]? {
        let stored = try await Self.events(
            "SELECT \(unescaped: Self.columns) FROM events WHERE id = ANY(\(ids.map(\.rawValue))) ORDER BY seq",
            on: connection,
            logger: logger
        )
        return stored.isEmpty ? nil : stored.map(\.event)
    }

    /// One statement for all rows (arrays unnested, an empty string standing for a missing session or task), the
    /// signed head moved to the last of them, and the notification every node's feed waits for: one round trip.
    private func insert(_ events: [Event], payloads: [String], on connection: PostgresConnection) async throws {
        let last = events[events.count - 1]
        try await connection.run(
            """
            WITH rows AS (
                INSERT INTO events (seq, id, ts, type, actor, session, task, payload, prev_hash, hash)
                SELECT s, i, t, ty, a, NULLIF(se, ''), NULLIF(ta, ''), p, ph, h
                FROM unnest(\(events.map(\.seq)), \(events.map(\.id.rawValue)), \(events.map(\.ts)), \
                \(events.map(\.type.rawValue)), \(events.map(\.actor.rawValue)), \
                \(events.map { $0.session?.rawValue ?? "" }), \(events.map { $0.task?.rawValue ?? "" }), \
                \(payloads), \(events.map(\.prevHash)), \(events.map(\.hash))) AS r(s, i, t, ty, a, se, ta, p, ph, h)
                RETURNING 1),
            head AS (
                INSERT INTO ledger_head (id, seq, hash, signature) VALUES (1, \(last.seq), \(last.hash), \
                \(signer.signature(seq: last.seq, hash: last.hash)))
                ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature
                RETURNING 1)
            SELECT pg_notify(\(Self.channel), \(String(last.seq))), (SELECT count(*) FROM rows), (SELECT count(*) FROM head)
            """,
            logger: logger
        )
    }

    /// Events after `after`, oldest first, at most `limit`.
    public func events(
        after: Int = 0,
        through: Int? = nil,
        filter: EventFilter = EventFilter(),
        limit: Int = 100
    ) async throws -> [Event] {
        try await PostgresStore.translating {
            try await read(Self.query(after: after, through: through, filter: filter, limit: limit))
        }
    }

    /// The statement that reads events after `after` (through `through`) matching `filter`, at most `limit`.
    static func query(after: Int, through: Int?, filter: EventFilter, limit: Int) -> PostgresQuery {
        var clauses = ["seq > $1", "seq <= $2"]
        var binds = PostgresBindings()
        binds.append(after)
        binds.append(through ?? Int.max)
        if let type = filter.type {
            if type.hasSuffix(".*") {
                binds.append(String(type.dropLast(1)))
                clauses.append("starts_with(type, $\(binds.count))")
            } else {
                binds.append(type)
                clauses.append("type = $\(binds.count)")
            }
        }
        if let session = filter.session {
            binds.append(session.rawValue)
            clauses.append("session = $\(binds.count)")
        }
        if let task = filter.task {
            binds.append(task.rawValue)
            clauses.append("task = $\(binds.count)")
        }
        binds.append(limit)
        return PostgresQuery(
            unsafeSQL: """
                SELECT \(columns) FROM events WHERE \(clauses.joined(separator: " AND ")) \
                ORDER BY seq LIMIT $\(binds.count)
                """,
            binds: binds
        )
    }

    /// A query's events, PostgreSQL's errors as they are (the feed tells a lost connection from the rest).
    func read(_ query: PostgresQuery) async throws -> [Event] {
        try await client.withConnection { connection in
            try await Self.events(query, on: connection, logger: logger).map(\.event)
        }
    }

    /// The highest seq written so far (0 for an empty ledger).
    public func lastSeq() async throws -> Int {
        try await PostgresStore.translating { try await readLastSeq() }
    }

    func readLastSeq() async throws -> Int {
        try await client.rows("SELECT COALESCE(MAX(seq), 0)::bigint FROM events", logger: logger).first?
            .decode(Int.self) ?? 0
    }

    /// Walks the whole chain and the signed head with the SQLite ledger's rules.
    public func verify() async throws -> LedgerVerification {
        try await PostgresStore.translating {
            try await client.withConnection { connection in
                var check = ChainCheck(signer: signer)
                var after = 0
                while true {
                    let page = try await Self.events(
                        "SELECT \(unescaped: Self.columns) FROM events WHERE seq > \(after) ORDER BY seq LIMIT 5000",
                        on: connection,
                        logger: logger
                    )
                    for (event, payload) in page {
                        if let broken = check.next(event, storedPayload: payload) { return broken }
                    }
                    guard let last = page.last else { break }
                    after = last.event.seq
                }
                var head: (seq: Int, hash: String, signature: String)?
                for try await row in try await connection.run(
                    "SELECT seq, hash, signature FROM ledger_head WHERE id = 1",
                    logger: logger
                ).decode((Int, String, String).self) {
                    head = (row.0, row.1, row.2)
                }
                return check.finish(head: head)
            }
        }
    }

    /// Copies events exactly as they were stored elsewhere (seq, id, time, hash), after the last one held here, and
    /// signs the new head. The first copied event must link to this ledger's last one, so a copy can be resumed but
    /// never forks or rewrites the chain. Returns how many were written.
    public func copy(_ events: [Event]) async throws -> Int {
        guard let first = events.first else { return 0 }
        return try await PostgresStore.translating {
            try await client.transaction(logger: logger) { connection in
                try await connection.run("SELECT pg_advisory_xact_lock(\(PostgresStore.ledgerLock))", logger: logger)
                let (seq, previous) = try await last(on: connection)
                guard first.seq == seq + 1, first.prevHash == previous else {
                    throw StoreError.conflict(
                        "the events to copy start at \(first.seq), but this ledger ends at \(seq) with another hash: "
                            + "it is not a copy of the same chain"
                    )
                }
                try await insert(events, payloads: events.map(\.payload.canonicalJSON), on: connection)
                return events.count
            }
        }
    }

    static let columns = "seq, id, ts, type, actor, session, task, payload, prev_hash, hash"

    static func events(
        _ query: PostgresQuery,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> [(event: Event, payload: String)]
    {
        var events: [(Event, String)] = []
        let rows = try await connection.run(query, logger: logger)
        for try await row in rows {
            let (seq, id, ts, type, actor, session, task, payload, prevHash, hash) = try row.decode(
                (Int, String, String, String, String, String?, String?, String, String, String).self
            )
            let value: JSONValue
            do {
                value = try JSONValue.parse(payload)
            } catch {
                value = .string(payload)  // edited outside the gateway: kept as text so verify flags it
            }
            let event = Event(
                seq: seq,
                id: Event.ID(id),
                ts: ts,
                type: Event.Kind(rawValue: type),
                actor: Principal(rawValue: actor),
                session: session.map { Session.ID($0) },
                task: task.map { BackgroundTask.ID($0) },
                payload: value,
                prevHash: prevHash,
                hash: hash
            )
            events.append((event, payload))
        }
        return events
    }
}
