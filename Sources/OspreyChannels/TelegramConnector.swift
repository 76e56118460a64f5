import AsyncHTTPClient
public import Foundation
public import Logging
import NIOHTTP1
import OspreyCore

/// The Telegram Bot API: `getUpdates` long polling with offsets (the hub keeps the offset with what it recorded, so
/// a restart neither repeats nor loses an update), `sendMessage` and `editMessageText` in MarkdownV2 with every
/// special character escaped, inline keyboards and `callback_query` for approvals, `getFile` for attachments.
public struct TelegramConnector: ChannelConnector {
    let base: String
    let token: String
    let http: ChannelHTTP
    let pollSeconds: Int
    let logger: Logger
    /// The bot's `@username`, for mentions in groups; read once by `run`.
    let username = Shared<String?>(nil)

    public init(
        baseURL: String,
        token: String,
        pollSeconds: Int = 25,
        http: ChannelHTTP = ChannelHTTP(),
        logger: Logger
    ) {
        self.base = baseURL
        self.token = token
        self.pollSeconds = pollSeconds
        self.http = http
        self.logger = logger
    }

    public var dialect: ChannelDialect { .telegram }

    func method(_ name: String) -> String { "\(base)/bot\(token)/\(name)" }

    func call(_ name: String, _ body: JSONValue, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        let answer = try await http.json(.POST, method(name), body: body, timeout: timeout, label: "telegram \(name)")
        return answer["result"] ?? .null
    }

    public func identify() async throws -> ChannelIdentity {
        let me = try await call("getMe", [:])
        guard let id = me["id"]?.intValue else { throw PlatformError("telegram getMe: no bot id in the answer") }
        let name = me["username"]?.stringValue ?? me["first_name"]?.stringValue ?? ""
        username.set(name)
        return ChannelIdentity(id: String(id), name: name)
    }

    public func run(
        from cursor: String?,
        deliver: @escaping @Sendable ([ChannelUpdate], String?) async throws -> Void
    ) async throws {
        if username.value == nil { _ = try await identify() }
        var offset = cursor.flatMap(Int.init)
        var failures = 0
        while !Task.isCancelled {
            var body: [String: JSONValue] = [
                "timeout": .int(pollSeconds), "allowed_updates": ["message", "callback_query"],
            ]
            if let offset { body["offset"] = .int(offset) }
            let updates: [JSONValue]
            do {
                updates =
                    try await call("getUpdates", .object(body), timeout: .seconds(pollSeconds + 15)).arrayValue ?? []
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.warning(
                    "telegram getUpdates failed",
                    metadata: ["error": "\(error)", "failures": "\(failures)"]
                )
                try await Task.sleep(for: Backoff.upToHalfAMinute.delay(after: failures))
                continue
            }
            guard !updates.isEmpty else { continue }
            var batch: [ChannelUpdate] = []
            for update in updates {
                if let id = update["update_id"]?.intValue { offset = max(offset ?? 0, id + 1) }
                batch.append(read(update))
            }
            try await deliver(batch, offset.map(String.init))
        }
    }

    /// One update as the hub's value; anything it cannot read is `.malformed`.
    func read(_ update: JSONValue) -> ChannelUpdate {
        if let query = update["callback_query"] {
            guard let id = query["id"]?.stringValue, let from = query["from"]?["id"]?.intValue,
                let chat = query["message"]?["chat"]?["id"]?.intValue, let data = query["data"]?.stringValue
            else { return .malformed("telegram callback_query without id, from, message.chat or data") }
            return .press(ButtonPress(id: id, chat: String(chat), sender: String(from), data: data))
        }
        guard let message = update["message"] else {
            return .malformed(
                "telegram update \(update["update_id"]?.intValue.map(String.init) ?? "?") carries no message"
            )
        }
        guard let id = message["message_id"]?.intValue, let chat = message["chat"]?["id"]?.intValue,
            let from = message["from"]?["id"]?.intValue
        else { return .malformed("telegram message without message_id, chat.id or from.id") }
        if message["from"]?["is_bot"] == true { return .malformed("telegram message from a bot, ignored") }
        let text =
            [message["text"]?.stringValue, message["caption"]?.stringValue].compactMap { $0 }
            .first { !$0.isEmpty } ?? ""
        let group = message["chat"]?["type"]?.stringValue != "private"
        var attachments: [ChannelAttachment] = []
        if let document = message["document"], let file = document["file_id"]?.stringValue {
            attachments.append(
                ChannelAttachment(
                    name: document["file_name"]?.stringValue ?? "document",
                    size: document["file_size"]?.intValue,
                    reference: file
                )
            )
        }
        if let photo = message["photo"]?.arrayValue?.last, let file = photo["file_id"]?.stringValue {
            attachments.append(
                ChannelAttachment(name: "photo.jpg", size: photo["file_size"]?.intValue, reference: file)
            )
        }
        let name = username.value.map { "@" + $0.lowercased() }
        let mentioned =
            (name.map { text.lowercased().contains($0) } ?? false)
            || message["reply_to_message"]?["from"]?["username"]?.stringValue.map { $0 == username.value } == true
        let display = [
            message["from"]?["first_name"]?.stringValue, message["from"]?["username"]?.stringValue.map { "@" + $0 },
        ]
        .compactMap { $0 }.joined(separator: " ")
        return .message(
            InboundMessage(
                id: String(id),
                chat: String(chat),
                sender: String(from),
                display: display,
                text: text,
                group: group,
                mentioned: mentioned,
                attachments: attachments
            )
        )
    }

    public func send(_ text: String, to chat: String, buttons: [ChannelButton]) async throws -> String {
        var body: [String: JSONValue] = [
            "chat_id": .string(chat), "text": .string(dialect.escape(text)), "parse_mode": "MarkdownV2",
        ]
        if !buttons.isEmpty {
            let row = buttons.map { ["text": .string($0.label), "callback_data": .string($0.data)] as JSONValue }
            body["reply_markup"] = ["inline_keyboard": [.array(row)]]
        }
        let sent = try await call("sendMessage", .object(body))
        guard let id = sent["message_id"]?.intValue else { throw PlatformError("telegram sendMessage: no message_id") }
        return String(id)
    }

    public func edit(_ message: String, in chat: String, text: String) async throws {
        _ = try await call(
            "editMessageText",
            [
                "chat_id": .string(chat), "message_id": .int(Int(message) ?? 0), "text": .string(dialect.escape(text)),
                "parse_mode": "MarkdownV2",
            ]
        )
    }

    public func acknowledge(_ press: ButtonPress, text: String) async throws {
        _ = try await call("answerCallbackQuery", ["callback_query_id": .string(press.id), "text": .string(text)])
    }

    public func download(_ attachment: ChannelAttachment, limit: Int) async throws -> Data {
        let file = try await call("getFile", ["file_id": .string(attachment.reference)])
        if let size = file["file_size"]?.intValue, size > limit {
            throw PlatformError(status: 413, "telegram file: \(size) bytes, over the \(limit)-byte cap")
        }
        guard let path = file["file_path"]?.stringValue, !path.contains("..") else {
            throw PlatformError("telegram getFile: no usable file_path")
        }
        return try await http.download("\(base)/file/bot\(token)/\(path)", limit: limit, label: "telegram file")
    }
}
