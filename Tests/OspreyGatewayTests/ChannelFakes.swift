import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import OspreyCore
import OspreyTesting
import Synchronization

/// Discord as a test drives it: the Gateway WebSocket (Hello, Identify → READY, Resume → replay and RESUMED,
/// heartbeats acked), dispatches the test pushes (kept with their sequence numbers so a resume replays what a dropped
/// connection missed), and REST for messages, edits and interaction answers.
final class FakeDiscord: Sendable {
    struct State {
        var log: [(seq: Int, payload: JSONValue)] = []
        var writer: WebSocketOutboundWriter?
        var identifies = 0
        var resumes: [Int] = []
        var messages: [(channel: String, id: String, content: String, buttons: [String])] = []
        var edits: [(id: String, content: String)] = []
        var callbacks: [String] = []
        var nextID = 9000
        /// False makes the fake a zombie: heartbeats go unanswered.
        var acks = true
        /// How many of the next connections get no Hello (they are read, and never spoken to).
        var silentConnections = 0
        /// The next message create answers 429 with this `retry_after` (seconds).
        var throttle: Double?
        var creates: [ContinuousClock.Instant] = []
        var connections = 0
    }

    let state = Mutex(State())
    static let token = "fake-discord-token"
    static let session = "fake-session-1"

    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let platform = FakePlatform(
            socket: { inbound, outbound in try await self.serve(inbound, outbound) },
            { request in try await self.answer(request) }
        )
        return try await platform.run { platform in
            self.portBox.withLock { $0 = platform.port }
            return try await body(platform.baseURL)
        }
    }

    /// A MESSAGE_CREATE from `sender` in `channel` (a direct chat unless `guild` is set).
    func push(_ content: String, from sender: String, in channel: String = "dm-1", guild: String? = nil) {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        var data: [String: JSONValue] = [
            "id": .string(String(id)), "channel_id": .string(channel), "content": .string(content),
            "author": ["id": .string(sender), "username": "ann"], "mentions": [], "attachments": [],
        ]
        if let guild { data["guild_id"] = .string(guild) }
        dispatch("MESSAGE_CREATE", .object(data))
    }

    /// Logs a dispatch with the next sequence number and sends it if a connection is up.
    func dispatch(_ type: String, _ data: JSONValue) {
        let (payload, writer) = state.withLock { state -> (JSONValue, WebSocketOutboundWriter?) in
            let seq = (state.log.last?.seq ?? 0) + 1
            let payload: JSONValue = ["op": 0, "t": .string(type), "s": .int(seq), "d": data]
            state.log.append((seq, payload))
            return (payload, state.writer)
        }
        if let writer { Task { try? await writer.write(.text(payload.canonicalJSON)) } }
    }

    /// A press of the button `custom` under a message, by `sender`.
    func press(_ custom: String, from sender: String, in channel: String = "dm-1") {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        dispatch(
            "INTERACTION_CREATE",
            [
                "id": .string(String(id)), "token": "interaction-token", "type": 3, "channel_id": .string(channel),
                "user": ["id": .string(sender)], "data": ["custom_id": .string(custom), "component_type": 2],
            ]
        )
    }

    /// Drops the connection: the client must reconnect and resume.
    func drop() async {
        let writer = state.withLock { state -> WebSocketOutboundWriter? in
            defer { state.writer = nil }
            return state.writer
        }
        try? await writer?.close(.unexpectedServerError, reason: "dropped by the test")
    }

    var sequence: Int { state.withLock { $0.log.last?.seq ?? 0 } }

    func serve(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws {
        let silent = state.withLock { state in
            state.connections += 1
            defer { state.silentConnections = max(0, state.silentConnections - 1) }
            return state.silentConnections > 0
        }
        if silent {
            for try await _ in inbound.messages(maxSize: 1 << 20) {}
            return
        }
        try await outbound.write(.text(#"{"op":10,"d":{"heartbeat_interval":1000}}"#))
        for try await message in inbound.messages(maxSize: 1 << 20) {
            guard case .text(let text) = message, let payload = try? JSONValue.parse(text) else { continue }
            switch payload["op"]?.intValue {
            case 1:
                if state.withLock(\.acks) { try await outbound.write(.text(#"{"op":11}"#)) }
            case 2:
                guard payload["d"]?["token"]?.stringValue == Self.token else {
                    try await outbound.close(.unknown(4004), reason: "Authentication failed.")
                    return
                }
                state.withLock {
                    $0.identifies += 1
                    $0.writer = outbound
                }
                dispatch(
                    "READY",
                    [
                        "session_id": .string(Self.session), "user": ["id": "4242", "username": "osprey"],
                        "resume_gateway_url": .string("ws://127.0.0.1:\(port)/gateway"),
                    ]
                )
            case 6:
                let after = payload["d"]?["seq"]?.intValue ?? 0
                guard payload["d"]?["session_id"]?.stringValue == Self.session else {
                    try await outbound.write(.text(#"{"op":9,"d":false}"#))
                    continue
                }
                let missed = state.withLock { state -> [JSONValue] in
                    state.resumes.append(after)
                    state.writer = outbound
                    return state.log.filter { $0.seq > after }.map(\.payload)
                }
                for event in missed { try await outbound.write(.text(event.canonicalJSON)) }
                dispatch("RESUMED", [:])
            default:
                break
            }
        }
    }

    /// The port the fake listens on.
    let portBox = Mutex(0)
    var port: Int { portBox.withLock { $0 } }

    func answer(_ request: FakePlatform.Call) async throws -> FakePlatform.Answer {
        switch (request.method, request.path) {
        case ("GET", "/users/@me"):
            return .init(json: ["id": "4242", "username": "osprey"])
        case ("GET", "/gateway/bot"):
            return .init(json: ["url": .string("ws://127.0.0.1:\(port)/gateway"), "shards": 1])
        case ("POST", let path) where path.hasPrefix("/channels/") && path.hasSuffix("/messages"):
            let throttled = state.withLock { state -> Double? in
                state.creates.append(request.at)
                defer { state.throttle = nil }
                return state.throttle
            }
            if let throttled {
                return .init(
                    status: 429,
                    json: [
                        "message": "You are being rate limited.", "retry_after": .double(throttled), "global": false,
                    ]
                )
            }
            let channel = path.split(separator: "/")[1]
            let buttons =
                request.body["components"]?.arrayValue?.first?["components"]?.arrayValue?.compactMap {
                    $0["custom_id"]?.stringValue
                } ?? []
            let id = state.withLock { state -> String in
                state.nextID += 1
                state.messages.append(
                    (String(channel), String(state.nextID), request.body["content"]?.stringValue ?? "", buttons)
                )
                return String(state.nextID)
            }
            return .init(json: ["id": .string(id), "channel_id": .string(String(channel))])
        case ("PATCH", let path) where path.hasPrefix("/channels/"):
            let id = String(path.split(separator: "/").last ?? "")
            state.withLock { state in
                let content = request.body["content"]?.stringValue ?? ""
                state.edits.append((id, content))
                if let index = state.messages.firstIndex(where: { $0.id == id }) {
                    state.messages[index].content = content
                }
            }
            return .init(json: ["id": .string(id)])
        case ("POST", let path) where path.hasPrefix("/interactions/"):
            state.withLock { $0.callbacks.append(request.body["data"]?["content"]?.stringValue ?? "") }
            return .init(status: 204, json: .null)
        default:
            return .init(status: 404, json: ["message": "404: Not Found", "code": 0])
        }
    }

    /// Discord's markdown as shown: the escapes removed.
    var shown: [String] { state.withLock { $0.messages.map { FakeTelegram.unescaped($0.content) } } }
}

/// A Matrix homeserver's client-server API as a test drives it: `/sync` with `since` tokens over one timeline
/// (the bot's own events echoed back, as servers do), sends and edits kept, `whoami` and `joined_members`.
final class FakeMatrix: Sendable {
    struct Event: Sendable {
        var room: String
        var json: JSONValue
    }

    struct State {
        var timeline: [Event] = []
        var sent: [(room: String, id: String, content: JSONValue)] = []
        var nextID = 1
        var syncs: [String?] = []
        /// Uploaded media by `server/id`.
        var media: [String: Data] = [:]
        /// How long a send is answered after it is recorded (and synced): a server whose answer to the sender comes
        /// after other clients already saw the event.
        var sendAnswerDelay: Duration = .zero
    }

    let state = Mutex(State())
    static let user = "@osprey:fake"
    static let token = "fake-matrix-token"

    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        try await FakePlatform { request in try await self.answer(request) }.run { try await body($0.baseURL) }
    }

    /// An event from `sender` in `room`; answers its id.
    @discardableResult
    func push(_ type: String, from sender: String, in room: String = "!dm:fake", content: JSONValue) -> String {
        state.withLock { state in
            let id = "$ev\(state.nextID)"
            state.nextID += 1
            state.timeline.append(
                Event(
                    room: room,
                    json: [
                        "type": .string(type), "sender": .string(sender), "event_id": .string(id), "content": content,
                    ]
                )
            )
            return id
        }
    }

    func say(_ text: String, from sender: String, in room: String = "!dm:fake") {
        push("m.room.message", from: sender, in: room, content: ["msgtype": "m.text", "body": .string(text)])
    }

    var sent: [(room: String, id: String, content: JSONValue)] { state.withLock { $0.sent } }

    /// What a client shows for each message the bot sent: its body after the last edit.
    var shown: [String] {
        let sent = self.sent
        var bodies: [String: String] = [:]
        var order: [String] = []
        for (_, id, content) in sent {
            if content["m.relates_to"]?["rel_type"] == "m.replace",
                let target = content["m.relates_to"]?["event_id"]?.stringValue
            {
                bodies[target] = content["m.new_content"]?["body"]?.stringValue
            } else {
                order.append(id)
                bodies[id] = content["body"]?.stringValue
            }
        }
        return order.compactMap { bodies[$0] }
    }

    func answer(_ request: FakePlatform.Call) async throws -> FakePlatform.Answer {
        let media = "/_matrix/client/v1/media/download/"
        if request.path.hasPrefix(media) {
            let key = String(request.path.dropFirst(media.count))
            guard let data = state.withLock({ $0.media[key] }) else {
                return .init(status: 404, json: ["errcode": "M_NOT_FOUND"])
            }
            return .init(json: .null, bytes: data)
        }
        let prefix = "/_matrix/client/v3/"
        guard request.path.hasPrefix(prefix) else { return .init(status: 404, json: ["errcode": "M_UNRECOGNIZED"]) }
        let path = String(request.path.dropFirst(prefix.count))
        let parts = path.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        switch (request.method, parts.first ?? "") {
        case ("GET", "account"):
            return .init(json: ["user_id": .string(Self.user)])
        case ("GET", "sync"):
            let since = request.query["since"].flatMap { Int($0.dropFirst()) }
            state.withLock { $0.syncs.append(request.query["since"]) }
            let deadline = ContinuousClock.now + .milliseconds(min(Int(request.query["timeout"] ?? "0") ?? 0, 1000))
            while true {
                let (events, next) = state.withLock { state in
                    (since.map { Array(state.timeline.dropFirst($0)) } ?? [], state.timeline.count)
                }
                if !events.isEmpty || ContinuousClock.now >= deadline {
                    var rooms: [String: JSONValue] = [:]
                    for event in events {
                        let existing = rooms[event.room]?["timeline"]?["events"]?.arrayValue ?? []
                        rooms[event.room] = ["timeline": ["events": .array(existing + [event.json])]]
                    }
                    return .init(json: ["next_batch": .string("s\(next)"), "rooms": ["join": .object(rooms)]])
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        case ("GET", "rooms") where parts.count == 3 && parts[2] == "joined_members":
            return .init(json: ["joined": [Self.user: [:], "@ann:fake": [:]]])
        case ("PUT", "rooms") where parts.count == 5 && parts[2] == "send":
            let room = parts[1]
            let id = state.withLock { state -> String in
                let id = "$bot\(state.nextID)"
                state.nextID += 1
                state.sent.append((room, id, request.body))
                // The server echoes the bot's own event in its next sync.
                state.timeline.append(
                    Event(
                        room: room,
                        json: [
                            "type": "m.room.message", "sender": .string(Self.user), "event_id": .string(id),
                            "content": request.body,
                        ]
                    )
                )
                return id
            }
            try await Task.sleep(for: state.withLock { $0.sendAnswerDelay })
            return .init(json: ["event_id": .string(id)])
        default:
            return .init(status: 404, json: ["errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"])
        }
    }
}
