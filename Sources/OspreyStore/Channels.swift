public import Foundation
public import OspreyCore

/// A sender an operator paired on a channel (or later revoked).
public struct ChannelSender: Hashable, Sendable {
    public var channel: String
    public var sender: String
    public var display: String
    /// May answer approvals from the chat.
    public var approver: Bool
    public var pairedAt: Date
    public var pairedBy: String
    public var revokedAt: Date?

    init(row: SQLRow) {
        channel = row["channel"]
        sender = row["sender"]
        display = row["display"]
        approver = row["approver"]
        pairedAt = WireFormat.date(from: row["paired_at"]) ?? Date(timeIntervalSince1970: 0)
        pairedBy = row["paired_by"]
        revokedAt = (row["revoked_at"] as String?).flatMap(WireFormat.date(from:))
    }

    public var json: JSONValue {
        [
            "channel": .string(channel), "sender": .string(sender), "display": .string(display),
            "approver": .bool(approver), "paired_at": .string(WireFormat.timestamp(pairedAt)),
            "paired_by": .string(pairedBy), "revoked_at": revokedAt.map { .string(WireFormat.timestamp($0)) } ?? .null,
        ]
    }
}

/// A pairing code waiting for an operator; the code itself is not kept.
public struct ChannelPairing: Hashable, Sendable {
    public var channel: String
    public var sender: String
    public var display: String
    public var chat: String
    public var createdAt: Date
    public var expiresAt: Date

    init(row: SQLRow) {
        channel = row["channel"]
        sender = row["sender"]
        display = row["display"]
        chat = row["chat"]
        createdAt = WireFormat.date(from: row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        expiresAt = WireFormat.date(from: row["expires_at"]) ?? Date(timeIntervalSince1970: 0)
    }

    public var json: JSONValue {
        [
            "channel": .string(channel), "sender": .string(sender), "display": .string(display), "chat": .string(chat),
            "created_at": .string(WireFormat.timestamp(createdAt)),
            "expires_at": .string(WireFormat.timestamp(expiresAt)),
        ]
    }
}

/// Chat channels' state: paired senders, pairing codes (as digests), each chat's session, and how far each
/// channel's updates were read. Every change commits with its `channel.*` event.
public struct Channels: Sendable {
    let writer: GroupCommit
    let ledger: Ledger

    /// At most this many codes wait per channel: a crowd of strangers cannot grow the table without bound.
    public static let maxPending = 100

    /// The paired sender `sender` of `channel` (revoked or not), or nil.
    public func sender(_ sender: String, of channel: String) async throws -> ChannelSender? {
        try await writer.read { db in
            try db.row("SELECT * FROM channel_senders WHERE channel = ? AND sender = ?", [channel, sender]).map(
                ChannelSender.init(row:)
            )
        }
    }

    /// The paired senders (all channels when `channel` is nil), revoked ones included.
    public func senders(of channel: String?) async throws -> [ChannelSender] {
        try await writer.read { db in
            try db.rows(
                "SELECT * FROM channel_senders WHERE CAST(? AS TEXT) IS NULL OR channel = ? ORDER BY channel, paired_at",
                [channel, channel]
            ).map(ChannelSender.init(row:))
        }
    }

    /// The pairing codes still valid, without the codes.
    public func pending(of channel: String?, now: Date = Date()) async throws -> [ChannelPairing] {
        try await writer.read { db in
            try db.rows(
                """
                SELECT * FROM channel_pairings WHERE (CAST(? AS TEXT) IS NULL OR channel = ?) AND used_at IS NULL
                    AND expires_at > ? ORDER BY created_at
                """,
                [channel, channel, WireFormat.timestamp(now)]
            ).map(ChannelPairing.init(row:))
        }
    }

    /// What became of a pairing request.
    public enum PairingRequest: Sendable, Equatable {
        /// `code` is the sender's, valid until the given time.
        case issued
        /// The sender already holds a valid code: nothing new is issued.
        case pending
        /// Too many codes wait on this channel.
        case full
    }

    /// Keeps `code` (its digest) for an unknown sender, with a `channel.pairing_requested` event, unless the sender
    /// holds a valid code already or the channel has ``maxPending`` waiting.
    public func requestPairing(
        channel: String,
        sender: String,
        display: String,
        chat: String,
        code: String,
        lifetime: TimeInterval,
        now: Date = Date()
    ) async throws -> PairingRequest {
        let stamp = WireFormat.timestamp(now)
        return try await writer.transaction { db in
            let live =
                try db.value(
                    Int.self,
                    """
                    SELECT count(*) FROM channel_pairings WHERE channel = ? AND used_at IS NULL AND expires_at > ?
                    """,
                    [channel, stamp]
                ) ?? 0
            let held =
                try db.value(
                    Bool.self,
                    """
                    SELECT 1 FROM channel_pairings WHERE channel = ? AND sender = ? AND used_at IS NULL
                        AND expires_at > ?
                    """,
                    [channel, sender, stamp]
                ) ?? false
            if held { return .pending }
            if live >= Self.maxPending { return .full }
            try db.execute(
                """
                INSERT INTO channel_pairings (digest, channel, sender, display, chat, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    Self.digest(code), channel, sender, display, chat, stamp,
                    WireFormat.timestamp(now.addingTimeInterval(lifetime)),
                ]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .channelPairingRequested,
                        actor: .channel(channel, sender: sender),
                        payload: [
                            "channel": .string(channel), "sender": .string(sender), "display": .string(display),
                            "chat": .string(chat),
                        ]
                    )
                ],
                in: db
            )
            return .issued
        }
    }

    /// Pairs the sender a valid, unused `code` was issued to: it is used up and the sender is allowed (again, if it
    /// was revoked). A wrong, used or expired code is `notFound`, whichever it was.
    public func pair(
        code: String,
        approver: Bool,
        by actor: Principal,
        now: Date = Date()
    ) async throws -> (sender: ChannelSender, chat: String) {
        let stamp = WireFormat.timestamp(now)
        return try await writer.transaction { db in
            guard
                let row = try db.row(
                    "SELECT * FROM channel_pairings WHERE digest = ? AND used_at IS NULL AND expires_at > ?",
                    [Self.digest(code), stamp]
                )
            else { throw StoreError.notFound(kind: "pairing code", id: "given") }
            let pairing = ChannelPairing(row: row)
            try db.execute("UPDATE channel_pairings SET used_at = ? WHERE digest = ?", [stamp, Self.digest(code)])
            try db.execute(
                """
                INSERT INTO channel_senders (channel, sender, display, approver, paired_at, paired_by)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (channel, sender) DO UPDATE SET display = excluded.display,
                    approver = excluded.approver, paired_at = excluded.paired_at, paired_by = excluded.paired_by,
                    revoked_at = NULL
                """,
                [
                    pairing.channel, pairing.sender, pairing.display, approver, stamp, actor.rawValue,
                ]
            )
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .channelPaired,
                        actor: actor,
                        payload: [
                            "channel": .string(pairing.channel), "sender": .string(pairing.sender),
                            "approver": .bool(approver),
                        ]
                    )
                ],
                in: db
            )
            guard
                let sender = try db.row(
                    "SELECT * FROM channel_senders WHERE channel = ? AND sender = ?",
                    [pairing.channel, pairing.sender]
                )
            else { throw StoreError.notFound(kind: "channel sender", id: pairing.sender) }
            return (ChannelSender(row: sender), pairing.chat)
        }
    }

    /// Takes a paired sender off the allowlist, with its `channel.revoked` event.
    public func revoke(
        _ sender: String,
        of channel: String,
        by actor: Principal,
        now: Date = Date()
    ) async throws
        -> ChannelSender
    {
        try await writer.transaction { db in
            try db.execute(
                "UPDATE channel_senders SET revoked_at = ? WHERE channel = ? AND sender = ? AND revoked_at IS NULL",
                [WireFormat.timestamp(now), channel, sender]
            )
            guard db.changesCount == 1 else {
                throw StoreError.notFound(kind: "paired sender", id: "\(channel)/\(sender)")
            }
            _ = try ledger.append(
                [
                    EventDraft(
                        type: .channelRevoked,
                        actor: actor,
                        payload: ["channel": .string(channel), "sender": .string(sender)]
                    )
                ],
                in: db
            )
            guard
                let row = try db.row(
                    "SELECT * FROM channel_senders WHERE channel = ? AND sender = ?",
                    [channel, sender]
                )
            else { throw StoreError.notFound(kind: "paired sender", id: sender) }
            return ChannelSender(row: row)
        }
    }

    /// The session of a chat, or nil before its first message.
    public func session(of chat: String, on channel: String) async throws -> Session.ID? {
        try await writer.read { db in
            try db.value(
                String.self,
                "SELECT session FROM channel_chats WHERE channel = ? AND chat = ?",
                [channel, chat]
            ).map { Session.ID($0) }
        }
    }

    /// Makes `session` the chat's.
    public func bind(_ chat: String, on channel: String, to session: Session.ID) async throws {
        try await writer.transaction { db in
            try db.execute(
                """
                INSERT INTO channel_chats (channel, chat, session) VALUES (?, ?, ?)
                ON CONFLICT (channel, chat) DO UPDATE SET session = excluded.session
                """,
                [channel, chat, session.rawValue]
            )
        }
    }

    /// Where the channel's updates were read up to.
    public func cursor(of channel: String) async throws -> String? {
        try await writer.read { db in
            try db.value(String.self, "SELECT cursor FROM channel_cursors WHERE channel = ?", [channel])
        }
    }

    /// Records what came in (its `channel.received` events) and moves the channel's cursor past it in one
    /// transaction, so a restart neither repeats nor loses an update.
    public func received(_ events: [EventDraft], channel: String, cursor: String?) async throws {
        try await writer.transaction { db in
            if let cursor {
                try db.execute(
                    """
                    INSERT INTO channel_cursors (channel, cursor, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT (channel) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
                    """,
                    [channel, cursor, WireFormat.timestamp(Date())]
                )
            }
            if !events.isEmpty { _ = try ledger.append(events, in: db) }
        }
    }

    /// A code's digest: the form a code is kept and looked up in (codes are case-insensitive).
    static func digest(_ code: String) -> String { Event.sha256Hex(code.uppercased()) }
}
