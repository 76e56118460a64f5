import Foundation
public import OspreyCore

/// Sessions and their transcripts. Every change commits together with its ledger event.
public struct Sessions: Sendable {
    let writer: GroupCommit
    let ledger: Ledger
    /// Settles the model call of a ``Step`` with the messages it produced.
    let spending: Spending

    /// Longest accepted title, in characters.
    public static let maxTitleLength = 200

    /// Starts a session for `agent` and records `session.created`.
    public func create(
        agent: String = "default",
        title: String? = nil,
        persona: String? = nil,
        actor: Principal
    ) async throws -> Session {
        guard agent.range(of: #"^[A-Za-z0-9_.-]{1,64}$"#, options: .regularExpression) != nil else {
            throw StoreError.invalid("agent must be 1-64 letters, digits, '_', '-' or '.'")
        }
        if let title, title.count > Self.maxTitleLength {
            throw StoreError.invalid("title is longer than \(Self.maxTitleLength) characters")
        }
        let now = Date()
        let session = Session(
            id: .random(prefix: "ses"),
            agent: agent,
            title: title,
            createdAt: now,
            updatedAt: now,
            persona: persona
        )
        try await writer.transaction { db in
            try db.execute(
                "INSERT INTO sessions (id, agent, title, created_at, updated_at, persona) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    session.id.rawValue, agent, title, WireFormat.timestamp(now), WireFormat.timestamp(now), persona,
                ]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .sessionCreated,
                        actor: actor,
                        session: session.id,
                        payload: [
                            "agent": .string(agent), "title": title.map(JSONValue.string) ?? .null,
                            "persona": persona.map(JSONValue.string) ?? .null,
                        ]
                    )
                ],
                in: db
            )
        }
        return session
    }

    /// Sessions, most recently active first.
    public func list(limit: Int = 100, offset: Int = 0) async throws -> [Session] {
        try await writer.read { db in
            try db.records(
                Session.self,
                """
                SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count
                FROM sessions s ORDER BY s.updated_at DESC, s.id LIMIT ? OFFSET ?
                """,
                [limit, offset]
            )
        }
    }

    /// How many sessions exist.
    public func count() async throws -> Int {
        try await writer.read { db in try db.value(Int.self, "SELECT COUNT(*) FROM sessions") ?? 0 }
    }

    /// One session; throws ``StoreError/notFound(kind:id:)`` for an unknown id.
    public func get(_ id: Session.ID) async throws -> Session {
        try await writer.readBounded { db in try Self.fetch(db, id) }
    }

    static func fetch(_ db: SQLConnection, _ id: Session.ID) throws -> Session {
        let session = try db.record(
            Session.self,
            """
            SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count
            FROM sessions s WHERE s.id = ?
            """,
            [id.rawValue]
        )
        guard let session else { throw StoreError.notFound(kind: "session", id: id.rawValue) }
        return session
    }

    /// Deletes a session and its messages and records `session.deleted`. Its events stay in the ledger.
    public func delete(_ id: Session.ID, actor: Principal) async throws {
        try await writer.transaction { db in
            try db.execute("DELETE FROM sessions WHERE id = ?", [id.rawValue])
            guard db.changesCount > 0 else { throw StoreError.notFound(kind: "session", id: id.rawValue) }
            _ = try ledger.append(
                [EventDraft(type: .sessionDeleted, actor: actor, session: id, payload: [:])],
                in: db
            )
        }
    }

    /// Adds a message to a session's transcript and records `message.<role>` with it, in one transaction.
    @discardableResult
    public func append(_ message: Message, to id: Session.ID, actor: Principal) async throws -> (StoredMessage, Event) {
        try await writer.transaction { db in
            try append(message, to: id, actor: actor, in: db)
        }
    }

    /// The same, inside a transaction the store holds (``record(_:in:actor:)``). Secrets are redacted from the
    /// message before it is kept.
    func append(
        _ message: Message,
        to id: Session.ID,
        actor: Principal,
        in db: SQLConnection
    ) throws -> (StoredMessage, Event) {
        let message = ledger.redactor.redact(message)
        let now = Date()
        // The session's row is touched first: no row changed is an unknown session (one statement, not a read and
        // a write).
        try db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", [WireFormat.timestamp(now), id.rawValue])
        guard db.changesCount > 0 else { throw StoreError.notFound(kind: "session", id: id.rawValue) }
        let content = JSONValue.array(message.content.map(\.jsonValue)).canonicalJSON
        let seq =
            try db.value(
                Int.self,
                "INSERT INTO messages (session_id, role, content, created_at) VALUES (?, ?, ?, ?) RETURNING seq",
                [id.rawValue, message.role.rawValue, content, WireFormat.timestamp(now)]
            ) ?? 0
        let events = try ledger.append(
            [
                EventDraft(
                    type: .message(message.role),
                    actor: actor,
                    session: id,
                    payload: ["message_seq": .int(seq), "message": message.jsonValue]
                )
            ],
            in: db
        )
        return (StoredMessage(seq: seq, sessionID: id, message: message, createdAt: now), events[0])
    }

    /// A session's transcript, oldest first; throws ``StoreError/notFound(kind:id:)`` for an unknown session.
    ///
    /// The first ``firstPage`` messages are a bounded read (on SQLite on the calling thread: most transcripts an
    /// agent run reads are this short, and the hops to a reader thread and back cost more than the read); the rest
    /// of a longer transcript is read through the reader queue. Messages are only ever appended, so the rest read
    /// from a later snapshot continues the same transcript.
    public func messages(of id: Session.ID, after: Int = 0, limit: Int = 1000) async throws -> [StoredMessage] {
        let page = min(limit, Self.firstPage)
        let messages = try await writer.readBounded { db in
            _ = try Self.fetch(db, id)
            return try Self.messages(db, of: id, after: after, limit: page)
        }
        return try await continued(messages, of: id, page: page, limit: limit)
    }

    /// `first`, a first page of `page` messages read on the calling thread, and when it is full the rest up to
    /// `limit` in all, read on from where it ended through the reader queue.
    private func continued(
        _ first: [StoredMessage],
        of id: Session.ID,
        page: Int,
        limit: Int
    ) async throws -> [StoredMessage] {
        guard first.count == page, limit > page, let last = first.last else { return first }
        return first
            + (try await writer.read { db in try Self.messages(db, of: id, after: last.seq, limit: limit - page) })
    }

    /// The session's latest message of `role` whose text starts with `prefix` (the agent's compaction summary), or
    /// nil. Only that role's rows are decoded, newest first, not the transcript: the latest ``recentScan`` messages
    /// are looked through on the calling thread (a bounded read), older ones through the reader queue.
    public func latestMessage(
        of id: Session.ID,
        role: Role,
        startingWith prefix: String
    ) async throws -> StoredMessage? {
        let (recent, older) = try await writer.readBounded { db in
            try Self.recentSummary(db, of: id, role: role, startingWith: prefix)
        }
        guard recent == nil, let older else { return recent }
        return try await olderSummary(of: id, role: role, startingWith: prefix, before: older)
    }

    /// The latest message of `role` starting with `prefix` before seq `before`, looked for through the reader queue
    /// (the messages the bounded scan did not reach).
    private func olderSummary(
        of id: Session.ID,
        role: Role,
        startingWith prefix: String,
        before: Int
    ) async throws -> StoredMessage? {
        try await writer.read { db in
            try Self.latest(db, of: id, role: role, startingWith: prefix, before: before, scanning: .max).0
        }
    }

    /// The session's latest message of `role` starting with `prefix` (the agent's compaction summary) and the
    /// messages after the seq `after` names for it (0 without one), oldest first, at most 100,000: what an agent run
    /// reads before its first model call. One bounded read takes the summary among the latest ``recentScan`` messages
    /// and the first ``firstPage`` messages after it; an older summary is then looked for through the reader queue,
    /// and a longer tail is read on from where that page ended, so nothing is read twice.
    public func transcriptTail(
        of id: Session.ID,
        summaryRole role: Role,
        startingWith prefix: String,
        after: @escaping @Sendable (StoredMessage?) -> Int
    ) async throws -> (summary: StoredMessage?, messages: [StoredMessage]) {
        let (page, limit) = (Self.firstPage, 100_000)
        let (recent, older, first) = try await writer.readBounded { db -> (StoredMessage?, Int?, [StoredMessage]) in
            let (summary, older) = try Self.recentSummary(db, of: id, role: role, startingWith: prefix)
            if summary == nil, older != nil { return (nil, older, []) }
            return (summary, nil, try Self.messages(db, of: id, after: after(summary), limit: page))
        }
        if let older {
            let summary = try await olderSummary(of: id, role: role, startingWith: prefix, before: older)
            return (summary, try await messages(of: id, after: after(summary), limit: limit))
        }
        return (recent, try await continued(first, of: id, page: page, limit: limit))
    }

    /// How many of a session's latest messages ``latestMessage(of:role:startingWith:)`` looks through on the calling
    /// thread.
    public static let recentScan = 1024

    /// ``latest(_:of:role:startingWith:before:scanning:)`` among the session's latest ``recentScan`` messages, after
    /// checking the session exists.
    static func recentSummary(
        _ db: SQLConnection,
        of id: Session.ID,
        role: Role,
        startingWith prefix: String
    ) throws -> (StoredMessage?, Int?) {
        _ = try fetch(db, id)
        return try latest(db, of: id, role: role, startingWith: prefix, before: .max, scanning: recentScan)
    }

    /// The latest message of `role` starting with `prefix` among at most `scanning` messages before seq `before`;
    /// else the seq to go on looking before, when that many were looked through.
    static func latest(
        _ db: SQLConnection,
        of id: Session.ID,
        role: Role,
        startingWith prefix: String,
        before: Int,
        scanning: Int
    ) throws -> (StoredMessage?, Int?) {
        var (before, left) = (before, scanning)
        // Newest first, in pages that grow: a summary is most often a few messages back.
        var page = 32
        while left > 0 {
            let rows = try db.rows(
                "SELECT seq, role FROM messages WHERE session_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                [id.rawValue, before, min(page, left)]
            )
            for row in rows where (row["role"] as String) == role.rawValue {
                let candidate = try db.rows("SELECT * FROM messages WHERE seq = ?", [row["seq"] as Int]).map(
                    Self.storedMessage(from:)
                )
                if let found = candidate.first, found.message.text.hasPrefix(prefix) { return (found, nil) }
            }
            guard rows.count == min(page, left), let last = rows.last else { return (nil, nil) }
            (before, left, page) = (last["seq"], left - rows.count, min(page * 4, 4096))
        }
        return (nil, before)
    }

    /// How many messages ``messages(of:after:limit:)`` reads on the calling thread.
    static let firstPage = 128

    static func messages(_ db: SQLConnection, of id: Session.ID, after: Int, limit: Int) throws -> [StoredMessage] {
        try db.rows(
            "SELECT * FROM messages WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            [id.rawValue, after, limit]
        ).map(Self.storedMessage(from:))
    }

    /// A `messages` row as a stored message.
    static func storedMessage(from row: SQLRow) throws -> StoredMessage {
        let content = try WireFormat.decoder.decode([Content].self, from: Data((row["content"] as String).utf8))
        return StoredMessage(
            seq: row["seq"],
            sessionID: Session.ID(row["session_id"] as String),
            message: Message(role: Role(rawValue: row["role"]) ?? .user, content: content),
            createdAt: WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        )
    }
}
