import AsyncHTTPClient
public import Foundation
import HummingbirdWSClient
public import Logging
import NIOHTTP1
import NIOWebSocket
import OspreyCore
import Synchronization

/// Discord: the Gateway WebSocket for what comes in (identify, heartbeats whose acks are checked, a resume with the
/// session id and sequence after a drop, a fresh identify when the session cannot resume, reconnects with
/// back-off), REST for what goes out (messages, edits, buttons as message components, interaction answers).
public struct DiscordConnector: ChannelConnector {
    let base: String
    let token: String
    let gatewayURL: String?
    let http: ChannelHTTP
    let logger: Logger
    /// How long a new connection may go without Discord's Hello (which comes at once) before it is closed and made
    /// again: until Hello no heartbeat runs, so nothing else would notice a connection that never speaks.
    let helloLimit: Duration
    let me = Shared<String?>(nil)
    let state = Shared(GatewayState())

    /// What survives a dropped connection: enough to resume.
    struct GatewayState {
        var session: String?
        var sequence: Int?
        var resumeURL: String?
        /// The ids of recent messages, so a replay after a resume never delivers one twice.
        var seen: [String] = []
    }

    /// GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT.
    static let intents = (1 << 9) | (1 << 12) | (1 << 15)

    public init(
        baseURL: String,
        token: String,
        gatewayURL: String? = nil,
        http: ChannelHTTP? = nil,
        helloLimit: Duration = .seconds(20),
        logger: Logger
    ) {
        self.base = baseURL
        self.token = token
        self.gatewayURL = gatewayURL
        self.http = http ?? ChannelHTTP(headers: [("Authorization", "Bot \(token)")])
        self.helloLimit = helloLimit
        self.logger = logger
    }

    public var dialect: ChannelDialect { .discord }

    public func identify() async throws -> ChannelIdentity {
        let user = try await http.json(.GET, "\(base)/users/@me", label: "discord users/@me")
        guard let id = user["id"]?.stringValue else { throw PlatformError("discord users/@me: no id") }
        me.set(id)
        return ChannelIdentity(id: id, name: user["username"]?.stringValue ?? "")
    }

    public func run(
        from cursor: String?,
        deliver: @escaping @Sendable ([ChannelUpdate], String?) async throws -> Void
    ) async throws {
        var failures = 0
        while !Task.isCancelled {
            do {
                let url: String
                if let resume = state.withLock({ $0.session != nil ? $0.resumeURL : nil }) {
                    url = resume
                } else if let gatewayURL {
                    url = gatewayURL
                } else {
                    let answer = try await http.json(.GET, "\(base)/gateway/bot", label: "discord gateway/bot")
                    guard let found = answer["url"]?.stringValue else { throw PlatformError("discord: no gateway url") }
                    url = found
                }
                let established = Shared(false)
                try await connect(to: url, established: established, deliver: deliver)
                // A connection that was established (READY or RESUMED) was healthy: it reconnects after a second;
                // one that never got there backs off further each time.
                failures = established.withLock { $0 } ? 0 : failures + 1
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.warning("discord gateway connection failed", metadata: ["error": "\(error)"])
            }
            if Task.isCancelled { return }
            try await Task.sleep(for: Backoff.upToHalfAMinute.delay(after: failures))
        }
    }

    /// One connection, from Hello to its close.
    func connect(
        to url: String,
        established: Shared<Bool>,
        deliver: @escaping @Sendable ([ChannelUpdate], String?) async throws -> Void
    ) async throws {
        let separator = url.contains("?") ? "&" : "?"
        _ = try await WebSocketClient.connect(
            url: url + separator + "v=10&encoding=json",
            configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 22),
            logger: logger
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let acked = Shared(true)
                let greeted = Shared(false)
                group.addTask { [helloLimit] in
                    try await Task.sleep(for: helloLimit)
                    if !greeted.withLock({ $0 }) {
                        try await outbound.close(.unknown(4000), reason: "no Hello within \(helloLimit)")
                    }
                }
                for try await message in inbound.messages(maxSize: 1 << 22) {
                    guard case .text(let text) = message, let payload = try? JSONValue.parse(text),
                        let op = payload["op"]?.intValue
                    else {
                        try await deliver([.malformed("discord gateway frame that is not a JSON payload")], nil)
                        continue
                    }
                    switch op {
                    case 10:
                        greeted.withLock { $0 = true }
                        let interval = payload["d"]?["heartbeat_interval"]?.intValue ?? 41_250
                        group.addTask {
                            // The first beat after a random share of the interval, as Discord asks.
                            var wait = Duration.milliseconds(Int.random(in: 0...max(1, interval)))
                            while true {
                                try await Task.sleep(for: wait)
                                wait = .milliseconds(interval)
                                let answered = acked.withLock { was in
                                    defer { was = false }
                                    return was
                                }
                                guard answered else {
                                    // No ack since the last beat: the connection is a zombie. Close it and resume.
                                    try await outbound.close(.unknown(4000), reason: "heartbeat not acknowledged")
                                    return
                                }
                                try await outbound.write(.text(heartbeat()))
                            }
                        }
                        try await outbound.write(.text(hello()))
                    case 11:
                        acked.withLock { $0 = true }
                    case 1:
                        try await outbound.write(.text(heartbeat()))
                    case 7:
                        // Discord asks for a reconnect: close and resume.
                        try await outbound.close(.unknown(4000), reason: "reconnect requested")
                    case 9:
                        if payload["d"] != true { state.withLock { $0.session = nil } }
                        try await outbound.close(.unknown(4000), reason: "invalid session")
                    case 0:
                        if ["READY", "RESUMED"].contains(payload["t"]?.stringValue) {
                            established.withLock { $0 = true }
                        }
                        try await dispatch(payload, deliver: deliver)
                    default:
                        break
                    }
                }
                group.cancelAll()
            }
        }
    }

    func heartbeat() -> String {
        let sequence = state.withLock { $0.sequence }
        return (["op": 1, "d": sequence.map(JSONValue.int) ?? .null] as JSONValue).canonicalJSON
    }

    /// Identify, or resume when a session survives from the last connection.
    func hello() -> String {
        let (session, sequence) = state.withLock { ($0.session, $0.sequence) }
        if let session {
            let resume: JSONValue = [
                "op": 6,
                "d": [
                    "token": .string(token), "session_id": .string(session),
                    "seq": sequence.map(JSONValue.int) ?? .null,
                ],
            ]
            return resume.canonicalJSON
        }
        let identify: JSONValue = [
            "op": 2,
            "d": [
                "token": .string(token), "intents": .int(Self.intents),
                "properties": ["os": "linux", "browser": "osprey", "device": "osprey"],
            ],
        ]
        return identify.canonicalJSON
    }

    func dispatch(
        _ payload: JSONValue,
        deliver: @escaping @Sendable ([ChannelUpdate], String?) async throws -> Void
    ) async throws {
        let data = payload["d"] ?? .null
        let sequence = payload["s"]?.intValue
        switch payload["t"]?.stringValue {
        case "READY":
            if let user = data["user"]?["id"]?.stringValue { me.set(user) }
            state.withLock {
                $0.session = data["session_id"]?.stringValue
                $0.resumeURL = data["resume_gateway_url"]?.stringValue
            }
        case "MESSAGE_CREATE":
            let update = read(message: data)
            if case .message(let message)? = update {
                let repeated = state.withLock { state in
                    if state.seen.contains(message.id) { return true }
                    state.seen.append(message.id)
                    if state.seen.count > 1000 { state.seen.removeFirst(state.seen.count - 1000) }
                    return false
                }
                if !repeated { try await deliver([.message(message)], nil) }
            } else if let update {
                try await deliver([update], nil)
            }
        case "INTERACTION_CREATE":
            let sender = data["member"]?["user"]?["id"]?.stringValue ?? data["user"]?["id"]?.stringValue
            if let id = data["id"]?.stringValue, let token = data["token"]?.stringValue,
                let chat = data["channel_id"]?.stringValue, let sender,
                let custom = data["data"]?["custom_id"]?.stringValue
            {
                try await deliver(
                    [.press(ButtonPress(id: "\(id)/\(token)", chat: chat, sender: sender, data: custom))],
                    nil
                )
            } else {
                try await deliver(
                    [.malformed("discord interaction without id, token, channel, user or custom_id")],
                    nil
                )
            }
        default:
            break
        }
        // Counted only once handled: a resume asks again for what was not.
        if let sequence { state.withLock { $0.sequence = max($0.sequence ?? 0, sequence) } }
    }

    /// A MESSAGE_CREATE as the hub's value; nil for the bot's own messages and other bots'.
    func read(message data: JSONValue) -> ChannelUpdate? {
        guard let id = data["id"]?.stringValue, let chat = data["channel_id"]?.stringValue,
            let author = data["author"], let sender = author["id"]?.stringValue
        else { return .malformed("discord MESSAGE_CREATE without id, channel_id or author") }
        if author["bot"] == true || sender == me.value { return nil }
        let attachments = (data["attachments"]?.arrayValue ?? []).compactMap { item -> ChannelAttachment? in
            guard let url = item["url"]?.stringValue else { return nil }
            return ChannelAttachment(
                name: item["filename"]?.stringValue ?? "attachment",
                size: item["size"]?.intValue,
                reference: url
            )
        }
        let mentioned =
            data["mentions"]?.arrayValue?.contains(where: { $0["id"]?.stringValue == me.value }) == true
            || data["referenced_message"]?["author"]?["id"]?.stringValue == me.value
        return .message(
            InboundMessage(
                id: id,
                chat: chat,
                sender: sender,
                display: author["global_name"]?.stringValue ?? author["username"]?.stringValue ?? sender,
                text: data["content"]?.stringValue ?? "",
                group: data["guild_id"] != nil && data["guild_id"] != .null,
                mentioned: mentioned,
                attachments: attachments
            )
        )
    }

    public func send(_ text: String, to chat: String, buttons: [ChannelButton]) async throws -> String {
        var body: [String: JSONValue] = ["content": .string(dialect.escape(text)), "allowed_mentions": ["parse": []]]
        if !buttons.isEmpty {
            let row = buttons.enumerated().map { index, button -> JSONValue in
                [
                    "type": 2, "style": .int(index == 0 ? 3 : 4), "label": .string(button.label),
                    "custom_id": .string(button.data),
                ]
            }
            body["components"] = [["type": 1, "components": .array(row)]]
        }
        let sent = try await http.json(
            .POST,
            "\(base)/channels/\(Self.snowflake(chat))/messages",
            body: .object(body),
            label: "discord create message"
        )
        guard let id = sent["id"]?.stringValue else { throw PlatformError("discord create message: no id") }
        return id
    }

    public func edit(_ message: String, in chat: String, text: String) async throws {
        _ = try await http.json(
            .PATCH,
            "\(base)/channels/\(Self.snowflake(chat))/messages/\(Self.snowflake(message))",
            body: ["content": .string(dialect.escape(text)), "allowed_mentions": ["parse": []]],
            label: "discord edit message"
        )
    }

    public func acknowledge(_ press: ButtonPress, text: String) async throws {
        let parts = press.id.split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { throw PlatformError("discord interaction: malformed id") }
        let token = parts[1].addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        _ = try await http.json(
            .POST,
            "\(base)/interactions/\(Self.snowflake(String(parts[0])))/\(token)/callback",
            // 4: a message in answer, 64: seen only by the one who pressed.
            body: ["type": 4, "data": ["content": .string(dialect.escape(text)), "flags": 64]],
            label: "discord interaction callback"
        )
    }

    public func download(_ attachment: ChannelAttachment, limit: Int) async throws -> Data {
        // Only Discord's own CDN (or the configured API's host, a fake's in tests): a message cannot make the
        // gateway fetch an arbitrary URL.
        guard let url = URL(string: attachment.reference), url.scheme == "https" || url.scheme == "http",
            let host = url.host,
            ["cdn.discordapp.com", "media.discordapp.net", URL(string: base)?.host].contains(host)
        else { throw PlatformError("discord attachment: not on Discord's CDN") }
        if let size = attachment.size, size > limit {
            throw PlatformError(status: 413, "discord attachment: \(size) bytes, over the \(limit)-byte cap")
        }
        return try await ChannelHTTP().download(attachment.reference, limit: limit, label: "discord attachment")
    }

    /// A snowflake id, digits only, or an error: ids go into URL paths.
    static func snowflake(_ id: String) -> String {
        id.allSatisfy(\.isASCII) && id.allSatisfy(\.isNumber) ? id : "0"
    }
}
