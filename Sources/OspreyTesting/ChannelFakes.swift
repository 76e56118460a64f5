public import Foundation
import HTTPTypes
import Hummingbird
public import HummingbirdWebSocket
import Logging
import NIOCore
public import OspreyCore
public import Synchronization

/// A chat platform's API on loopback, written from its public documentation: each request is handed to `answer`
/// (method, path, query, JSON body) and recorded; a WebSocket route may be added (Discord's Gateway).
public final class FakePlatform: Sendable {
    public struct Call: Sendable {
        public var method: String
        public var path: String
        public var query: [String: String]
        public var body: JSONValue
        public var at = ContinuousClock.now
    }

    public struct Answer: Sendable {
        public var status: Int = 200
        public var json: JSONValue
        public var headers: [String: String] = [:]
        /// Raw bytes instead of JSON (file downloads).
        public var bytes: Data? = nil

        public init(status: Int = 200, json: JSONValue, headers: [String: String] = [:], bytes: Data? = nil) {
            self.status = status
            self.json = json
            self.headers = headers
            self.bytes = bytes
        }
    }

    public typealias Handler = @Sendable (Call) async throws -> Answer
    public typealias SocketHandler = @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void

    private let handler: Handler
    private let socket: SocketHandler?
    private let received = Mutex<[Call]>([])
    private let portBox = Mutex<Int?>(nil)

    public init(socket: SocketHandler? = nil, _ handler: @escaping Handler) {
        self.handler = handler
        self.socket = socket
    }

    public var requests: [Call] { received.withLock { $0 } }
    public var port: Int { portBox.withLock { $0 } ?? 0 }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Requests to paths ending in `suffix`.
    public func requests(to suffix: String) -> [Call] { requests.filter { $0.path.hasSuffix(suffix) } }

    public func run<T: Sendable>(_ body: @Sendable (FakePlatform) async throws -> T) async throws -> T {
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
        // Plain HTTP and, when there is a socket handler, its WebSocket route at /gateway.
        let sockets = Router(context: BasicWebSocketRequestContext.self)
        if let socket { sockets.ws("/gateway") { inbound, outbound, _ in try await socket(inbound, outbound) } }
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
        return try await whileServing(ready: ready, serve: { try await app.run() }, then: { try await body(self) })
    }
}

/// Telegram's Bot API as a test drives it: updates the test pushes are served by `getUpdates` (long polling,
/// confirmed by `offset`), every sent or edited message is kept, and a method may be told to answer 429 once.
public final class FakeTelegram: Sendable {
    public struct Sent: Sendable {
        public var chat: String
        public var id: Int
        public var text: String
        public var buttons: [String]
    }

    public struct State {
        var updates: [JSONValue] = []
        var nextUpdate = 1
        var nextMessage = 100
        var messages: [Int: Sent] = [:]
        var order: [Int] = []
        public var edits: [(id: Int, text: String)] = []
        public var callbacks: [String] = []
        var throttle: [String: Int] = [:]
        var offsets: [Int] = []
        public var files: [String: Data] = [:]
        public var calls: [(method: String, at: ContinuousClock.Instant)] = []
        public var raw: [String] = []
    }

    public let state = Mutex(State())
    public static let token = "4242:fake-telegram-token"

    public init() {}

    /// Serves the API for the duration of `body`, which gets its base URL.
    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        try await FakePlatform { request in try await self.answer(request) }.run { try await body($0.baseURL) }
    }

    /// A message from a user; `update` adds or replaces fields of the update itself.
    public func push(
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
    public func pushRaw(_ update: [String: JSONValue]) {
        state.withLock { state in
            var update = update
            update["update_id"] = .int(state.nextUpdate)
            state.updates.append(.object(update))
            state.nextUpdate += 1
        }
    }

    /// A button press on message `message`.
    public func press(_ data: String, from sender: Int, on message: Int) {
        pushRaw([
            "callback_query": [
                "id": .string("cb\(message)\(sender)"), "from": ["id": .int(sender), "first_name": "Ann"],
                "message": ["message_id": .int(message), "chat": ["id": .int(sender), "type": "private"]],
                "data": .string(data),
            ]
        ])
    }

    public var sent: [Sent] { state.withLock { state in state.order.compactMap { state.messages[$0] } } }
    public var edits: [(id: Int, text: String)] { state.withLock { $0.edits } }
    public var callbacks: [String] { state.withLock { $0.callbacks } }

    /// Answers `method` with 429 and `retry_after` once.
    public func throttleOnce(_ method: String, seconds: Int) { state.withLock { $0.throttle[method] = seconds } }

    /// MarkdownV2 as the user sees it: the escapes removed.
    public static func unescaped(_ text: String) -> String {
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
