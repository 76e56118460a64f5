import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import OspreyCore
import Synchronization

/// A chat platform's API on loopback, written from its public documentation: each request is handed to `answer`
/// (method, path, query, JSON body) and recorded; a WebSocket route may be added (Discord's Gateway).
final class FakePlatform: Sendable {
    struct Call: Sendable {
        var method: String
        var path: String
        var query: [String: String]
        var body: JSONValue
        var at = ContinuousClock.now
    }

    struct Answer: Sendable {
        var status: Int = 200
        var json: JSONValue
        var headers: [String: String] = [:]
        /// Raw bytes instead of JSON (file downloads).
        var bytes: Data? = nil
    }

    typealias Handler = @Sendable (Call) async throws -> Answer
    typealias SocketHandler = @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void

    private let handler: Handler
    private let socket: SocketHandler?
    private let received = Mutex<[Call]>([])
    private let portBox = Mutex<Int?>(nil)

    init(socket: SocketHandler? = nil, _ handler: @escaping Handler) {
        self.handler = handler
        self.socket = socket
    }

    var requests: [Call] { received.withLock { $0 } }
    var port: Int { portBox.withLock { $0 } ?? 0 }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Requests to paths ending in `suffix`.
    func requests(to suffix: String) -> [Call] { requests.filter { $0.path.hasSuffix(suffix) } }

    func run<T: Sendable>(_ body: @Sendable (FakePlatform) async throws -> T) async throws -> T {
        let router = Router()
        let handle: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var request = request
            let bytes = try await request.collectBody(upTo: 16 << 20)
            var query: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
            let body =
                bytes.readableBytes == 0 ? JSONValue.null : ((try? JSONValue.parse(bytes.readableBytesView)) ?? .null)
            let seen = Call(method: request.method.rawValue, path: request.uri.path, query: query, body: body)
            self.received.withLock { $0.append(seen) }
            let answer = try await self.handler(seen)
            var fields = HTTPFields()
            for (name, value) in answer.headers { fields[HTTPField.Name(name)!] = value }
            fields[.contentType] = answer.bytes == nil ? "application/json" : "application/octet-stream"
            let buffer = answer.bytes.map { ByteBuffer(bytes: $0) } ?? ByteBuffer(string: answer.json.canonicalJSON)
            return Response(
                status: HTTPResponse.Status(code: answer.status),
                headers: fields,
                body: .init(byteBuffer: buffer)
            )
        }
        for method in [HTTPRequest.Method.get, .post, .put, .patch] { router.on("**", method: method, use: handle) }
        let (ready, readySignal) = AsyncStream<Void>.makeStream()
        let logger = Logger(label: "fake-platform", factory: { _ in SwiftLogNoOpLogHandler() })
        let running: @Sendable () async throws -> Void
        if let socket {
            let sockets = Router(context: BasicWebSocketRequestContext.self)
            sockets.ws("/gateway") { inbound, outbound, _ in try await socket(inbound, outbound) }
            let app = Application(
                router: router,
                server: .http1WebSocketUpgrade(webSocketRouter: sockets),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    self.portBox.withLock { $0 = channel.localAddress?.port }
                    readySignal.finish()
                },
                logger: logger
            )
            running = { try await app.run() }
        } else {
            let app = Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    self.portBox.withLock { $0 = channel.localAddress?.port }
                    readySignal.finish()
                },
                logger: logger
            )
            running = { try await app.run() }
        }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await running()
                return nil
            }
            for await _ in ready {}
            defer { group.cancelAll() }
            return try await body(self)
        }
    }
}

/// Telegram's Bot API as a test drives it: updates the test pushes are served by `getUpdates` (long polling,
/// confirmed by `offset`), every sent or edited message is kept, and a method may be told to answer 429 once.
final class FakeTelegram: Sendable {
    struct Sent: Sendable {
        var chat: String
        var id: Int
        var text: String
        var buttons: [String]
    }

    struct State {
        var updates: [JSONValue] = []
        var nextUpdate = 1
        var nextMessage = 100
        var messages: [Int: Sent] = [:]
        var order: [Int] = []
        var edits: [(id: Int, text: String)] = []
        var callbacks: [String] = []
        var throttle: [String: Int] = [:]
        var offsets: [Int] = []
        var files: [String: Data] = [:]
        var calls: [(method: String, at: ContinuousClock.Instant)] = []
        var raw: [String] = []
    }

    let state = Mutex(State())
    static let token = "4242:fake-telegram-token"

    /// Serves the API for the duration of `body`, which gets its base URL.
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        try await FakePlatform { request in try await self.answer(request) }.run { try await body($0.baseURL) }
    }

    /// A message from a user; `update` adds or replaces fields of the update itself.
    func push(
        _ text: String,
        from sender: Int,
        chat: Int? = nil,
        name: String = "Ann",
        extra: [String: JSONValue] = [:]
    ) {
        state.withLock { state in
            state.nextMessage += 1
            var message: [String: JSONValue] = [
                "message_id": .int(state.nextMessage), "date": .int(Int(Date().timeIntervalSince1970)),
                "from": ["id": .int(sender), "is_bot": false, "first_name": .string(name)],
                "chat": [
                    "id": .int(chat ?? sender), "type": .string(chat == nil || chat == sender ? "private" : "group"),
                ],
                "text": .string(text),
            ]
            for (key, value) in extra { message[key] = value }
            state.updates.append(["update_id": .int(state.nextUpdate), "message": .object(message)])
            state.nextUpdate += 1
        }
    }

    /// Any update, as raw JSON (a malformed one included).
    func pushRaw(_ update: [String: JSONValue]) {
        state.withLock { state in
            var update = update
            update["update_id"] = .int(state.nextUpdate)
            state.updates.append(.object(update))
            state.nextUpdate += 1
        }
    }

    /// A button press on message `message`.
    func press(_ data: String, from sender: Int, on message: Int) {
        pushRaw([
            "callback_query": [
                "id": .string("cb\(message)\(sender)"), "from": ["id": .int(sender), "first_name": "Ann"],
                "message": ["message_id": .int(message), "chat": ["id": .int(sender), "type": "private"]],
                "data": .string(data),
            ]
        ])
    }

    var sent: [Sent] { state.withLock { state in state.order.compactMap { state.messages[$0] } } }
    var edits: [(id: Int, text: String)] { state.withLock { $0.edits } }
    var callbacks: [String] { state.withLock { $0.callbacks } }

    /// Answers `method` with 429 and `retry_after` once.
    func throttleOnce(_ method: String, seconds: Int) { state.withLock { $0.throttle[method] = seconds } }

    /// MarkdownV2 as the user sees it: the escapes removed.
    static func unescaped(_ text: String) -> String {
        var out = ""
        var escaping = false
        for character in text {
            if character == "\\" && !escaping {
                escaping = true
                continue
            }
            escaping = false
            out.append(character)
        }
        return out
    }

    func answer(_ request: FakePlatform.Call) async throws -> FakePlatform.Answer {
        if request.path.hasPrefix("/file/bot\(Self.token)/") {
            let name = String(request.path.dropFirst("/file/bot\(Self.token)/".count))
            guard let data = state.withLock({ $0.files[name] }) else { return .init(status: 404, json: [:]) }
            return .init(json: .null, bytes: data)
        }
        guard request.path.hasPrefix("/bot\(Self.token)/") else {
            return .init(status: 401, json: ["ok": false, "error_code": 401, "description": "Unauthorized"])
        }
        let method = String(request.path.dropFirst("/bot\(Self.token)/".count))
        state.withLock { state in
            state.calls.append((method, request.at))
            if let text = request.body["text"]?.stringValue, method != "answerCallbackQuery" { state.raw.append(text) }
        }
        if let seconds = state.withLock({ $0.throttle.removeValue(forKey: method) }) {
            return .init(
                status: 429,
                json: [
                    "ok": false, "error_code": 429, "description": .string("Too Many Requests: retry after \(seconds)"),
                    "parameters": ["retry_after": .int(seconds)],
                ]
            )
        }
        let body = request.body
        switch method {
        case "getMe":
            return ok(["id": 4242, "is_bot": true, "first_name": "Osprey", "username": "osprey_bot"])
        case "getUpdates":
            let offset = body["offset"]?.intValue ?? 0
            let timeout = body["timeout"]?.intValue ?? 0
            state.withLock { $0.offsets.append(offset) }
            let deadline = ContinuousClock.now + .seconds(min(timeout, 2))
            while true {
                let ready = state.withLock { state -> [JSONValue] in
                    // Asking from an offset confirms everything before it, as Telegram does.
                    state.updates.removeAll { ($0["update_id"]?.intValue ?? 0) < offset }
                    return state.updates
                }
                if !ready.isEmpty || ContinuousClock.now >= deadline { return ok(.array(ready)) }
                try await Task.sleep(for: .milliseconds(20))
            }
        case "sendMessage":
            guard let chat = body["chat_id"]?.stringValue, let text = body["text"]?.stringValue else {
                return .init(status: 400, json: ["ok": false, "error_code": 400, "description": "Bad Request"])
            }
            if Self.unescaped(text).count > 4096 {
                return .init(status: 400, json: ["ok": false, "error_code": 400, "description": "message is too long"])
            }
            let buttons =
                body["reply_markup"]?["inline_keyboard"]?.arrayValue?.first?.arrayValue?.compactMap {
                    $0["callback_data"]?.stringValue
                } ?? []
            let id = state.withLock { state -> Int in
                state.nextMessage += 1
                state.messages[state.nextMessage] = Sent(
                    chat: chat,
                    id: state.nextMessage,
                    text: Self.unescaped(text),
                    buttons: buttons
                )
                state.order.append(state.nextMessage)
                return state.nextMessage
            }
            return ok(["message_id": .int(id), "chat": ["id": .string(chat)], "text": .string(text)])
        case "editMessageText":
            guard let id = body["message_id"]?.intValue, let text = body["text"]?.stringValue,
                state.withLock({ $0.messages[id] != nil })
            else {
                return .init(status: 400, json: ["ok": false, "error_code": 400, "description": "message not found"])
            }
            state.withLock { state in
                state.messages[id]?.text = Self.unescaped(text)
                state.edits.append((id, Self.unescaped(text)))
            }
            return ok(["message_id": .int(id)])
        case "answerCallbackQuery":
            state.withLock { $0.callbacks.append(body["text"]?.stringValue ?? "") }
            return ok(true)
        case "getFile":
            let id = body["file_id"]?.stringValue ?? ""
            let size = state.withLock { $0.files[id]?.count }
            guard let size else { return .init(status: 400, json: ["ok": false, "description": "file not found"]) }
            return ok(["file_id": .string(id), "file_size": .int(size), "file_path": .string(id)])
        default:
            return .init(status: 404, json: ["ok": false, "error_code": 404, "description": "Not Found"])
        }
    }

    func ok(_ result: JSONValue) -> FakePlatform.Answer { .init(json: ["ok": true, "result": result]) }
}

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
        var connections = 0
    }

    let state = Mutex(State())
    static let token = "fake-discord-token"
    static let session = "fake-session-1"

    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let platform = FakePlatform(socket: { inbound, outbound in try await self.serve(inbound, outbound) }) {
            request in try await self.answer(request)
        }
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
        state.withLock { $0.connections += 1 }
        try await outbound.write(.text(#"{"op":10,"d":{"heartbeat_interval":300}}"#))
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
            return .init(json: ["event_id": .string(id)])
        default:
            return .init(status: 404, json: ["errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"])
        }
    }
}
