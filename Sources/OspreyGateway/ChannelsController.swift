import Foundation
import HTTPTypes
import OspreyAgent
import OspreyChannels
import OspreyCore
import OspreyStore
import Synchronization

/// `/api/channels`: the chat channels, their paired senders and waiting pairings; pairing a code, revoking a sender,
/// a live check of a channel's credentials. Also how the hub reaches agents: ``agents(_:)`` binds it to the one
/// operation table.
struct ChannelsController {
    let hub: ChannelHub?
    let settings: [OspreyConfig.Channel]
    let channels: Channels
    let attempts = PairingAttempts()

    var operations: [Operation] { [list, pair, revoke, test] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/channels", list)
        routes.bind(.post, "/api/channels/pair", pair, body: true)
        routes.bind(.post, "/api/channels/:name/revoke", revoke, parameters: ["name": "channel"], body: true)
        routes.bind(.post, "/api/channels/:name/test", test, parameters: ["name": "channel"], body: true)
    }

    var list: Operation {
        Operation("channels.list", role: .viewer) { (_: NoFields, _) in
            let configured = settings.map { channel -> JSONValue in
                [
                    "name": .string(channel.name), "kind": .string(channel.kind.rawValue),
                    "agent": .string(channel.agent), "base_url": .string(channel.baseURL),
                    "allow": .array(channel.allow.map(JSONValue.string)),
                    "approvers": .array(channel.approvers.map(JSONValue.string)),
                    "groups": .array(channel.groups.map(JSONValue.string)),
                ]
            }
            return [
                "channels": .array(configured),
                "senders": .array(try await channels.senders(of: nil).map(\.json)),
                "pending": .array(try await channels.pending(of: nil).map(\.json)),
            ]
        }
    }

    struct Pair: OperationRequest {
        static let fields: Set<String> = ["code", "approver"]
        let code: String
        let approver: Bool
        init(_ fields: Fields) throws {
            code = ChannelHub.normalized(try fields.string("code"))
            guard code.count == 8 else { throw APIError.badRequest("Field 'code' must be a pairing code (XXXX-XXXX).") }
            switch fields["approver"] {
            case nil, .null?: approver = false
            case .bool(let flag)?: approver = flag
            default: throw APIError.badRequest("Field 'approver' must be true or false.")
            }
        }
    }

    /// Pairing grants a stranger an agent: an admin's act, and guessing is cut off after a few wrong codes.
    var pair: Operation {
        Operation("channels.pair", role: .admin) { (request: Pair, caller) in
            guard let hub else { throw APIError(.notFound, "not_found", "No channels are configured.") }
            if let wait = attempts.refusal() {
                throw APIError(
                    .tooManyRequests,
                    "too_many_attempts",
                    "Too many wrong pairing codes; try again in \(wait) s.",
                    headers: [.retryAfter: String(wait)]
                )
            }
            do {
                return try await hub.pair(code: request.code, approver: request.approver, by: caller.actor).json
            } catch StoreError.notFound {
                attempts.failed()
                throw APIError(.notFound, "invalid_code", "No valid pairing code matches: wrong, used or expired.")
            }
        }
    }

    struct Revoke: OperationRequest {
        static let fields: Set<String> = ["channel", "sender"]
        let channel: String
        let sender: String
        init(_ fields: Fields) throws {
            channel = try fields.string("channel")
            sender = try fields.string("sender")
        }
    }

    var revoke: Operation {
        Operation("channels.revoke", role: .admin) { (request: Revoke, caller) in
            guard let channel = settings.first(where: { $0.name == request.channel }) else {
                throw APIError(.notFound, "not_found", "No channel named '\(request.channel)'.")
            }
            if channel.allow.contains(request.sender) {
                throw APIError(
                    .conflict,
                    "configured",
                    "Sender \(request.sender) is allowed by config.toml; remove it from channels.allow there."
                )
            }
            return try await channels.revoke(request.sender, of: request.channel, by: caller.actor).json
        }
    }

    struct Test: OperationRequest {
        static let fields: Set<String> = ["channel"]
        let channel: String
        init(_ fields: Fields) throws { channel = try fields.string("channel") }
    }

    var test: Operation {
        Operation("channels.test", role: .operator) { (request: Test, _) in
            guard let hub, hub.settings(request.channel) != nil else {
                throw APIError(.notFound, "not_found", "No channel named '\(request.channel)'.")
            }
            let identity = try await hub.test(request.channel)
            return [
                "channel": .string(request.channel), "ok": true, "id": .string(identity.id),
                "name": .string(identity.name),
            ]
        }
    }

    /// The hub's way to agents and approvals: the table's `sessions.create`, `sessions.send` (untrusted: the run
    /// starts tainted) and `approvals.approve` / `approvals.reject`, as the channel's sender, with at most the
    /// operator role, scoped to sessions and approvals, and bound to the channel's agent unless the sender is a
    /// mapped approver (a token bound to an agent can never decide an approval).
    static func agents(_ table: [String: Operation]) -> ChannelAgents {
        @Sendable func caller(_ sender: ChannelCaller) -> Caller {
            let token = TokenRecord(
                id: TokenRecord.ID(sender.principal.rawValue),
                name: sender.principal.rawValue,
                role: .operator,
                agent: sender.approver ? nil : sender.agent,
                scopes: ["sessions", "approvals"]
            )
            var caller = Caller(token: token)
            caller.principal = sender.principal
            caller.untrusted = true
            return caller
        }
        return ChannelAgents(
            createSession: { sender, title in
                let created = try await table.call(
                    "sessions.create",
                    ["agent": .string(sender.agent), "title": .string(title)],
                    as: caller(sender)
                )
                return Session.ID(created["id"]?.stringValue ?? "")
            },
            send: { session, content, sender, progress in
                var listening = caller(sender)
                listening.onRunEvent = { _, event in
                    switch event {
                    case .textDelta(let text): await progress(.text(text))
                    case .approvalRequested(let approval):
                        let detail = approval["reason"]?.stringValue ?? approval["arguments"]?.stringValue ?? ""
                        await progress(
                            .approval(
                                id: approval["id"]?.stringValue ?? "",
                                tool: approval["tool"]?.stringValue ?? "a tool",
                                detail: String(detail.prefix(300))
                            )
                        )
                    default: break
                    }
                }
                let summary = try await table.call(
                    "sessions.send",
                    ["session": .string(session.rawValue), "content": .string(content)],
                    as: listening
                )
                return summary["response"]?.stringValue ?? ""
            },
            decide: { approval, grant, sender in
                _ = try await table.call(
                    grant ? "approvals.approve" : "approvals.reject",
                    ["id": .string(approval)],
                    as: caller(sender)
                )
            }
        )
    }
}

/// Wrong pairing codes: after 5 within 10 minutes, pairing is refused until the oldest of them is 10 minutes old.
final class PairingAttempts: Sendable {
    private let failures = Mutex<[ContinuousClock.Instant]>([])
    static let limit = 5
    static let window: Duration = .seconds(600)

    /// Seconds to wait, or nil when a try is allowed.
    func refusal() -> Int? {
        let now = ContinuousClock.now
        return failures.withLock { failures in
            failures.removeAll { now - $0 >= Self.window }
            guard failures.count >= Self.limit, let oldest = failures.first else { return nil }
            return max(1, Int((Self.window - (now - oldest)).components.seconds))
        }
    }

    func failed() { failures.withLock { $0.append(ContinuousClock.now) } }
}
