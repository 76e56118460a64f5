import Foundation
public import OspreyCore

/// Which events a query or a live follow wants.
public struct EventFilter: Hashable, Sendable {
    /// An exact type (`session.created`) or a prefix ending in `.*` (`session.*`).
    public var type: String?
    public var session: Session.ID?
    public var task: BackgroundTask.ID?

    public init(type: String? = nil, session: Session.ID? = nil, task: BackgroundTask.ID? = nil) {
        self.type = type
        self.session = session
        self.task = task
    }

    /// True when `event` passes every condition.
    public func matches(_ event: Event) -> Bool {
        if let type {
            if type.hasSuffix(".*") {
                guard event.type.rawValue.hasPrefix(String(type.dropLast(1))) else { return false }
            } else if event.type.rawValue != type {
                return false
            }
        }
        if let session, event.session != session { return false }
        if let task, event.task != task { return false }
        return true
    }

    var sql: (clause: String, arguments: SQLArguments) {
        var clauses: [String] = []
        var arguments: SQLArguments = []
        if let type {
            if type.hasSuffix(".*") {
                clauses.append("substr(type, 1, CAST(? AS INTEGER)) = ?")
                let prefix = String(type.dropLast(1))
                arguments += [prefix.utf8.count, prefix]
            } else {
                clauses.append("type = ?")
                arguments += [type]
            }
        }
        if let session {
            clauses.append("session = ?")
            arguments += [session.rawValue]
        }
        if let task {
            clauses.append("task = ?")
            arguments += [task.rawValue]
        }
        return (clauses.map { " AND " + $0 }.joined(), arguments)
    }
}

/// The result of walking the whole chain.
public struct LedgerVerification: Hashable, Sendable, Codable {
    public var ok: Bool
    /// Events checked.
    public var count: Int
    /// The hash of the last good event (64 zeros for an empty ledger).
    public var head: String
    /// The first seq at which the chain is broken: edited, missing, reordered, or cut off.
    public var firstBadSeq: Int?
    /// What was wrong, in words.
    public var reason: String?

    public init(ok: Bool, count: Int, head: String, firstBadSeq: Int?, reason: String?) {
        self.ok = ok
        self.count = count
        self.head = head
        self.firstBadSeq = firstBadSeq
        self.reason = reason
    }

    private enum CodingKeys: String, CodingKey {
        case ok, count, head
        case firstBadSeq = "first_bad_seq"
        case reason
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(count, forKey: .count)
        try container.encode(head, forKey: .head)
        try container.encode(firstBadSeq, forKey: .firstBadSeq)  // null, not absent, when the chain is good
        try container.encodeIfPresent(reason, forKey: .reason)
    }
}

/// The append-only, hash-chained event log: every message, decision and effect, in one order.
///
/// Appends are serialized by the database's single writer inside `BEGIN IMMEDIATE` transactions (on PostgreSQL, by
/// the ledger's advisory lock, which every write transaction takes at its start), so concurrent appenders (in this
/// process, another, or another gateway) can never fork the chain. Subscribers hear of an
/// event only after its transaction commits, in commit order.
public struct Ledger: Sendable {
    let writer: GroupCommit
    let signer: HeadSigner
    public let bus: EventBus
    /// Applied to every payload before it is hashed and stored: no secret reaches the ledger.
    public let redactor: Redactor

    init(writer: GroupCommit, signer: HeadSigner, bus: EventBus, redactor: Redactor) {
        self.writer = writer
        self.signer = signer
        self.bus = bus
        self.redactor = redactor
    }

    /// Records one event in its own durable transaction and returns it as stored.
    @discardableResult
    public func append(_ draft: EventDraft) async throws -> Event {
        try await append(contentsOf: [draft])[0]
    }

    /// Records several events in one transaction (group commit): one fsync for all of them.
    @discardableResult
    public func append(contentsOf drafts: [EventDraft]) async throws -> [Event] {
        guard !drafts.isEmpty else { return [] }
        return try await writer.transaction { db in
            try append(drafts, in: db)
        }
    }

    /// Appends inside a transaction the caller already holds, so a state change and its event commit together.
    ///
    /// Subscribers are told after the commit; if the transaction rolls back, nobody hears of these events.
    public func append(_ drafts: [EventDraft], in db: SQLConnection) throws -> [Event] {
        // The chain's tail: the last event this group appended (a body rolled back has taken its events with it),
        // else the table's. On PostgreSQL the group's transaction took the ledger's lock at its start, so no other
        // gateway appends between that read and this group's commit.
        var seq: Int
        var previous: String
        if let last = writer.publications.last {
            (seq, previous) = (last.seq, last.hash)
        } else {
            let last = try db.row("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
            (seq, previous) = (last?["seq"] ?? 0, last?["hash"] ?? Event.genesisHash)
        }
        let now = WireFormat.timestamp(Date())
        let insert = """
            INSERT INTO events (seq, id, ts, type, actor, session, task, payload, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        var events: [Event] = []
        events.reserveCapacity(drafts.count)
        for draft in drafts {
            seq += 1
            let (event, payload) = Event.sealed(
                draft,
                seq: seq,
                id: .random(prefix: "evt"),
                ts: now,
                after: previous,
                redactor: redactor
            )
            try db.execute(
                insert,
                [
                    event.seq, event.id.rawValue, event.ts, event.type.rawValue, event.actor.rawValue,
                    event.session?.rawValue, event.task?.rawValue, payload, event.prevHash, event.hash,
                ]
            )
            previous = event.hash
            events.append(event)
        }
        // Published after the commit by the group commit, which drops the events of a body that rolls back and
        // signs the head once for the whole group (after its last surviving event). Every transaction of the store
        // is one of its groups' bodies.
        guard writer.publications.collect(events) else {
            throw StoreError.invalid("events are appended inside the store's own transactions")
        }
        return events
    }

    /// Stores the signed head: the last event's seq and hash, and their HMAC under the home's key.
    static func writeHead(seq: Int, hash: String, signer: HeadSigner, in db: SQLConnection) throws {
        try db.execute(
            """
            INSERT INTO ledger_head (id, seq, hash, signature) VALUES (1, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature
            """,
            [seq, hash, signer.signature(seq: seq, hash: hash)]
        )
    }

    /// Events after `after`, oldest first, at most `limit`.
    public func events(after: Int = 0, filter: EventFilter = EventFilter(), limit: Int = 100) async throws -> [Event] {
        try await writer.read { db in try Self.events(db, after: after, through: nil, filter: filter, limit: limit) }
    }

    /// The highest seq written so far (0 for an empty ledger).
    public func lastSeq() async throws -> Int {
        try await writer.read { db in try db.value(Int.self, "SELECT MAX(seq) FROM events") ?? 0 }
    }

    static func events(
        _ db: SQLConnection,
        after: Int,
        through: Int?,
        filter: EventFilter,
        limit: Int
    ) throws -> [Event] {
        try events(db, after: after, through: through, filter: filter, limit: limit, maxBytes: .max).events
    }

    /// The events after `after`, at most `limit`, and no more than `maxBytes` of payload text (at least one);
    /// `more` is true when the page was cut short by either.
    static func events(
        _ db: SQLConnection,
        after: Int,
        through: Int?,
        filter: EventFilter,
        limit: Int,
        maxBytes: Int
    ) throws -> (events: [Event], more: Bool) {
        let (clause, filterArguments) = filter.sql
        var arguments: SQLArguments = [after]
        var bound = ""
        if let through {
            bound = " AND seq <= ?"
            arguments += [through]
        }
        arguments += filterArguments
        arguments += [limit]
        let rows = try db.rows("SELECT * FROM events WHERE seq > ?\(bound)\(clause) ORDER BY seq LIMIT ?", arguments)
        var events: [Event] = []
        var bytes = 0
        for row in rows {
            if maxBytes < .max {
                let payload: String = row["payload"]
                bytes += payload.utf8.count
                if bytes > maxBytes, !events.isEmpty { return (events, true) }
            }
            events.append(try event(from: row))
        }
        return (events, rows.count == limit)
    }

    static func event(from row: SQLRow) throws -> Event {
        let payloadText: String = row["payload"]
        let payload: JSONValue
        do {
            payload = try JSONValue.parse(payloadText)
        } catch {
            // A payload that no longer parses was edited outside the gateway: kept as text for whoever reads it
            // (verify finds it by its hash).
            payload = .string(payloadText)
        }
        return event(from: row, payload: payload)
    }

    /// An `events` row as an event, with `payload` for its payload (``ChainCheck`` hashes the stored text instead).
    static func event(from row: SQLRow, payload: JSONValue) -> Event {
        Event(
            seq: row["seq"],
            id: Event.ID(row["id"] as String),
            ts: row["ts"],
            type: Event.Kind(rawValue: row["type"]),
            actor: Principal(rawValue: row["actor"]),
            session: (row["session"] as String?).map { Session.ID($0) },
            task: (row["task"] as String?).map { BackgroundTask.ID($0) },
            payload: payload,
            prevHash: row["prev_hash"],
            hash: row["hash"]
        )
    }

    /// Delivers every matching event after `after`, then each new one as it commits, until cancelled.
    ///
    /// It subscribes before reading the backlog, so nothing committed in between is missed, and it skips
    /// what it already sent, so nothing is sent twice. A gap in the live feed (a slow consumer) is refilled
    /// from the database.
    public func follow(
        after: Int,
        filter: EventFilter = EventFilter(),
        onEvent: (Event) async throws -> Void
    ) async throws {
        let live = bus.subscribe()
        let high = try await lastSeq()
        var sent = after
        try await replay(after: after, through: high, filter: filter, onEvent: onEvent)
        sent = max(sent, high)
        for await event in live {
            try Task.checkCancellation()
            if event.seq <= sent { continue }
            if event.seq > sent + 1 {
                try await replay(after: sent, through: event.seq - 1, filter: filter, onEvent: onEvent)
            }
            sent = event.seq
            if filter.matches(event) { try await onEvent(event) }
        }
        try Task.checkCancellation()
    }

    /// How many events a replay reads at a time, and how many bytes of their payloads at most (one event, however
    /// large, at least): what a follower that waits on its consumer (an SSE client that stops reading) holds.
    static let replayPage = (events: 64, bytes: 1 << 20)

    private func replay(
        after: Int,
        through: Int,
        filter: EventFilter,
        onEvent: (Event) async throws -> Void
    ) async throws {
        var cursor = after
        while cursor < through {
            let page = try await writer.read { [cursor] db in
                let (events, bytes) = Self.replayPage
                return try Self.events(
                    db,
                    after: cursor,
                    through: through,
                    filter: filter,
                    limit: events,
                    maxBytes: bytes
                )
            }
            for event in page.events { try await onEvent(event) }
            guard let last = page.events.last, page.more else { return }
            cursor = last.seq
        }
    }

    /// Walks the whole chain and the signed head, and names the first seq where anything is wrong.
    public func verify() async throws -> LedgerVerification {
        try await writer.read { db in try verify(db) }
    }

    func verify(_ db: SQLConnection) throws -> LedgerVerification {
        var check = ChainCheck(signer: signer)
        // In pages, within the read's one snapshot: a long chain is never held in memory at once.
        var after = Int64.min
        while true {
            let rows = try db.rows("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT 2000", [after])
            for row in rows {
                if let broken = check.next(row) { return broken }
            }
            guard let last = rows.last, rows.count == 2000 else { break }
            after = last["seq"]
        }
        let head = try db.row("SELECT seq, hash, signature FROM ledger_head WHERE id = 1")
        return check.finish(head: head.map { (seq: $0["seq"], hash: $0["hash"], signature: $0["signature"]) })
    }

    /// The signed head as one witness line (`{"seq":…,"hash":…,"signature":…}`), or nil for an empty ledger.
    ///
    /// A witness file outside the home collects these lines (``LedgerWitness``). Someone who can rewrite the home,
    /// key included, can re-sign a shorter chain, but cannot take back a line an append-only witness already holds.
    public func witnessLine() async throws -> (seq: Int, line: String)? {
        try await writer.read { db -> (Int, String)? in
            guard
                let head = try db.row("SELECT seq, hash, signature FROM ledger_head WHERE id = 1")
            else { return nil }
            let seq: Int = head["seq"]
            let line: JSONValue = [
                "seq": .int(seq), "hash": .string(head["hash"]), "signature": .string(head["signature"]),
            ]
            return (seq, line.canonicalJSON)
        }
    }

    /// ``verify()``, then every line of a witness file: each must be a correctly signed head whose event is still
    /// in the chain with that hash. A ledger cut (or rolled back) below a witnessed head fails here.
    public func verify(witness text: String) async throws -> LedgerVerification {
        try await writer.read { db in
            var result = try verify(db)
            guard result.ok else { return result }
            for (number, raw) in text.split(separator: "\n").enumerated() where !raw.isEmpty {
                let line = number + 1
                guard case .object(let fields)? = try? JSONValue.parse(String(raw)),
                    let seq = fields["seq"]?.intValue, let hash = fields["hash"]?.stringValue,
                    let signature = fields["signature"]?.stringValue
                else {
                    return LedgerVerification(
                        ok: false,
                        count: result.count,
                        head: result.head,
                        firstBadSeq: nil,
                        reason: "witness line \(line) is not a signed head"
                    )
                }
                guard signer.isValid(signature, seq: seq, hash: hash) else {
                    return LedgerVerification(
                        ok: false,
                        count: result.count,
                        head: result.head,
                        firstBadSeq: seq,
                        reason: "witness line \(line) is not signed with this ledger's key"
                    )
                }
                let stored = try db.value(String.self, "SELECT hash FROM events WHERE seq = ?", [seq])
                if stored != hash {
                    result = LedgerVerification(
                        ok: false,
                        count: result.count,
                        head: result.head,
                        firstBadSeq: seq,
                        reason: stored == nil
                            ? "the witness saw event \(seq), which the ledger no longer holds: events were removed"
                            : "event \(seq) differs from the one the witness saw: the chain was rewritten"
                    )
                    return result
                }
            }
            return result
        }
    }

    /// Writes every event after `after` as one canonical JSON line (the envelope with its hash).
    public func export(after: Int = 0, to write: (String) throws -> Void) async throws -> Int {
        var cursor = after
        var written = 0
        while true {
            let page = try await writer.read { [cursor] db in
                try Self.events(db, after: cursor, through: nil, filter: EventFilter(), limit: 1000)
            }
            for event in page { try write(event.envelope.canonicalJSON) }
            written += page.count
            guard let last = page.last else { return written }
            cursor = last.seq
        }
    }
}
