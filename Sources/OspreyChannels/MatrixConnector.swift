import AsyncHTTPClient
public import Foundation
public import Logging
import NIOHTTP1
import OspreyCore
import Synchronization

/// The Matrix client-server API: `/sync` long polling with `since` tokens (the hub keeps the token with what it
/// recorded), `m.room.message` sent with a transaction id, edits as `m.replace` events, approvals answered with a
/// 👍/👎 reaction on the prompt or a `!approve ID` / `!reject ID` command. Invites are joined (who may talk is the
/// hub's decision); the bot's own events are skipped.
public struct MatrixConnector: ChannelConnector {
    let base: String
    let http: ChannelHTTP
    let pollSeconds: Int
    let logger: Logger
    let me = Shared<String?>(nil)
    /// Prompt event id → reaction key → button data.
    let prompts = Prompts()
    /// Room id → joined members (more than two: a group).
    let members = Shared<[String: Int]>([:])

    public init(baseURL: String, token: String, pollSeconds: Int = 25, http: ChannelHTTP? = nil, logger: Logger) {
        self.base = baseURL
        self.http = http ?? ChannelHTTP(headers: [("Authorization", "Bearer \(token)")])
        self.pollSeconds = pollSeconds
        self.logger = logger
    }

    public var dialect: ChannelDialect { .matrix }

    /// The reactions an approval prompt offers, one per button, in order.
    static let promptKeys = ["👍", "👎", "👌", "✋"]

    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(.init(charactersIn: "-._~")))
            ?? text
    }

    func url(_ path: String) -> String { "\(base)/_matrix/client/v3/\(path)" }

    public func identify() async throws -> ChannelIdentity {
        let answer = try await http.json(.GET, url("account/whoami"), label: "matrix whoami")
        guard let user = answer["user_id"]?.stringValue else { throw PlatformError("matrix whoami: no user_id") }
        me.set(user)
        return ChannelIdentity(id: user, name: user)
    }

    public func run(
        from cursor: String?,
        deliver: @escaping @Sendable ([ChannelUpdate], String?) async throws -> Void
    ) async throws {
        if me.value == nil { _ = try await identify() }
        var since = cursor
        if since == nil {
            // First start: history before the bot was configured is not answered; only what comes after.
            let first = try await http.json(.GET, url("sync?timeout=0"), label: "matrix sync")
            since = first["next_batch"]?.stringValue
            try await deliver([], since)
        }
        var failures = 0
        while !Task.isCancelled {
            let answer: JSONValue
            do {
                answer = try await http.json(
                    .GET,
                    url("sync?timeout=\(pollSeconds * 1000)&since=\(Self.component(since ?? ""))"),
                    timeout: .seconds(pollSeconds + 15),
                    label: "matrix sync"
                )
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.warning("matrix sync failed", metadata: ["error": "\(error)", "failures": "\(failures)"])
                try await Task.sleep(for: Backoff.upToHalfAMinute.delay(after: failures))
                continue
            }
            for room in answer["rooms"]?["invite"]?.objectValue?.keys.sorted() ?? [] {
                do {
                    _ = try await http.json(
                        .POST,
                        url("rooms/\(Self.component(room))/join"),
                        body: [:],
                        label: "matrix join"
                    )
                } catch {
                    logger.warning("matrix join failed", metadata: ["room": "\(room)", "error": "\(error)"])
                }
            }
            var batch: [ChannelUpdate] = []
            let joined = answer["rooms"]?["join"]?.objectValue ?? [:]
            for room in joined.keys.sorted() {
                let state = joined[room] ?? .null
                if let count = state["summary"]?["m.joined_member_count"]?.intValue {
                    members.withLock { $0[room] = count }
                }
                for event in state["timeline"]?["events"]?.arrayValue ?? [] {
                    if let update = await read(event, room: room) { batch.append(update) }
                }
            }
            let next = answer["next_batch"]?.stringValue ?? since
            if !batch.isEmpty || next != since { try await deliver(batch, next) }
            since = next
        }
    }

    /// One timeline event as the hub's value, or nil for what the hub never sees (the bot's own, edits, state).
    func read(_ event: JSONValue, room: String) async -> ChannelUpdate? {
        guard let type = event["type"]?.stringValue else { return .malformed("matrix event without a type") }
        guard let sender = event["sender"]?.stringValue, let id = event["event_id"]?.stringValue else {
            return .malformed("matrix \(type) event without sender or event_id")
        }
        if sender == me.value { return nil }
        let content = event["content"] ?? .null
        switch type {
        case "m.reaction":
            guard let relation = content["m.relates_to"], let target = relation["event_id"]?.stringValue,
                let key = relation["key"]?.stringValue
            else { return .malformed("matrix reaction without m.relates_to") }
            // Only a key a prompt offers can answer one: another reaction never waits for a prompt being sent.
            let data = Self.promptKeys.contains(key) ? await prompts.data(for: target, key: key) : nil
            return data.map { .press(ButtonPress(id: id, chat: room, sender: sender, data: $0)) }
        case "m.room.message":
            if content["m.relates_to"]?["rel_type"] == "m.replace" { return nil }
            guard let msgtype = content["msgtype"]?.stringValue, let body = content["body"]?.stringValue else {
                return .malformed("matrix m.room.message without msgtype or body")
            }
            let words = body.split(separator: " ")
            if words.count == 2, ["!approve", "!reject"].contains(words[0]) {
                return .press(
                    ButtonPress(id: id, chat: room, sender: sender, data: "\(words[0].dropFirst()):\(words[1])")
                )
            }
            var attachments: [ChannelAttachment] = []
            var text = body
            if ["m.file", "m.image", "m.audio", "m.video"].contains(msgtype), let mxc = content["url"]?.stringValue {
                attachments.append(
                    ChannelAttachment(name: body, size: content["info"]?["size"]?.intValue, reference: mxc)
                )
                text = ""
            }
            let user = me.value ?? ""
            let local = user.split(separator: ":").first.map { String($0.dropFirst()) } ?? user
            let mentioned =
                content["m.mentions"]?["user_ids"]?.arrayValue?.contains(.string(user)) == true
                || body.contains(user) || (!local.isEmpty && body.lowercased().contains(local.lowercased()))
            return .message(
                InboundMessage(
                    id: id,
                    chat: room,
                    sender: sender,
                    display: sender,
                    text: text,
                    group: await memberCount(room) > 2,
                    mentioned: mentioned,
                    attachments: attachments
                )
            )
        default:
            return nil
        }
    }

    func memberCount(_ room: String) async -> Int {
        if let known = members.withLock({ $0[room] }) { return known }
        let answer = try? await http.json(
            .GET,
            url("rooms/\(Self.component(room))/joined_members"),
            label: "matrix joined_members"
        )
        // Unknown is treated as a group: the stricter rules apply.
        let count = answer?["joined"]?.objectValue?.count ?? 3
        members.withLock { $0[room] = count }
        return count
    }

    func put(_ content: JSONValue, in room: String) async throws -> String {
        let transaction = UUID().uuidString
        let answer = try await http.json(
            .PUT,
            url("rooms/\(Self.component(room))/send/m.room.message/\(transaction)"),
            body: content,
            label: "matrix send"
        )
        guard let id = answer["event_id"]?.stringValue else { throw PlatformError("matrix send: no event_id") }
        return id
    }

    func content(_ text: String, notice: Bool = false) -> [String: JSONValue] {
        [
            "msgtype": notice ? "m.notice" : "m.text", "body": .string(text), "format": "org.matrix.custom.html",
            "formatted_body": .string(dialect.escape(text)),
        ]
    }

    public func send(_ text: String, to chat: String, buttons: [ChannelButton]) async throws -> String {
        guard !buttons.isEmpty else { return try await put(.object(content(text)), in: chat) }
        let choices = zip(Self.promptKeys, buttons).map { "\($0) \($1.label)" }.joined(separator: ", ")
        let commands = buttons.map { "!\($0.data.replacingOccurrences(of: ":", with: " "))" }.joined(separator: " or ")
        var map: [String: String] = [:]
        for (key, button) in zip(Self.promptKeys, buttons) { map[key] = button.data }
        await prompts.begin()
        do {
            let id = try await put(.object(content("\(text)\n\nReact \(choices); or send \(commands).")), in: chat)
            await prompts.end(id, map)
            return id
        } catch {
            await prompts.end(nil, map)
            throw error
        }
    }

    public func edit(_ message: String, in chat: String, text: String) async throws {
        var replacement = content("* " + text)
        replacement["m.new_content"] = .object(content(text))
        replacement["m.relates_to"] = ["rel_type": "m.replace", "event_id": .string(message)]
        _ = try await put(.object(replacement), in: chat)
    }

    public func acknowledge(_ press: ButtonPress, text: String) async throws {
        _ = try await put(.object(content(text, notice: true)), in: press.chat)
    }

    public func download(_ attachment: ChannelAttachment, limit: Int) async throws -> Data {
        guard attachment.reference.hasPrefix("mxc://") else { throw PlatformError("matrix attachment: not an mxc URI") }
        let parts = attachment.reference.dropFirst("mxc://".count).split(separator: "/")
        let allowed = CharacterSet.alphanumerics.union(.init(charactersIn: "-._:"))
        guard parts.count == 2, parts.allSatisfy({ $0.unicodeScalars.allSatisfy(allowed.contains) }) else {
            throw PlatformError("matrix attachment: malformed mxc URI")
        }
        if let size = attachment.size, size > limit {
            throw PlatformError(status: 413, "matrix attachment: \(size) bytes, over the \(limit)-byte cap")
        }
        return try await http.download(
            "\(base)/_matrix/client/v1/media/download/\(parts[0])/\(parts[1])",
            limit: limit,
            label: "matrix media"
        )
    }
}

/// The reactions each prompt offers, by the prompt's event id. The server names the id only in the answer to the
/// send, and a sync on another connection can carry a reaction to the prompt before that answer arrives; so a reaction
/// to an unknown event waits while a prompt is being sent, instead of being dropped.
actor Prompts {
    var known: [String: [String: String]] = [:]
    var sending = 0
    var waiting: [CheckedContinuation<Void, Never>] = []

    func begin() { sending += 1 }

    func end(_ id: String?, _ map: [String: String]) {
        if let id { known[id] = map }
        sending -= 1
        if sending == 0 {
            for waiter in waiting { waiter.resume() }
            waiting = []
        }
    }

    func data(for event: String, key: String) async -> String? {
        if known[event] == nil, sending > 0 { await withCheckedContinuation { waiting.append($0) } }
        return known[event]?[key]
    }
}
