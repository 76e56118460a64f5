public import Foundation
public import Logging
public import OspreyCore

/// One chat platform, as the hub sees it: updates in, messages, edits and buttons out.
///
/// A connector only speaks its platform's wire format; who may talk, which session a chat is and what the agent
/// says are the hub's. Text handed to ``send(_:to:buttons:)`` and ``edit(_:in:text:)`` is plain: the connector
/// escapes it for its dialect and the hub has already split it to fit (``ChannelDialect/chunks(of:)``).
public protocol ChannelConnector: Sendable {
    var dialect: ChannelDialect { get }
    /// Who the bot is on the platform (`osprey channels test`).
    func identify() async throws -> ChannelIdentity
    /// Reads updates from `cursor` on until cancelled, handing each batch to `deliver` with the cursor that follows
    /// it; a batch whose delivery throws is read again. Reconnects by itself; throws only what it cannot recover from.
    func run(
        from cursor: String?,
        deliver: @escaping @Sendable ([ChannelUpdate], _ cursor: String?) async throws -> Void
    ) async throws
    /// Sends a message (with buttons under it) and answers its id.
    func send(_ text: String, to chat: String, buttons: [ChannelButton]) async throws -> String
    /// Replaces the text of a message the bot sent.
    func edit(_ message: String, in chat: String, text: String) async throws
    /// Tells the platform a button press was handled, showing `text` to the one who pressed it.
    func acknowledge(_ press: ButtonPress, text: String) async throws
    /// An attachment's bytes; refused past `limit` bytes.
    func download(_ attachment: ChannelAttachment, limit: Int) async throws -> Data
}

/// The bot's own account.
public struct ChannelIdentity: Sendable, Equatable {
    public var id: String
    public var name: String
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// What a platform delivered.
public enum ChannelUpdate: Sendable {
    case message(InboundMessage)
    case press(ButtonPress)
    /// An update the connector could not read (logged and skipped, never fatal).
    case malformed(String)
}

/// A message from a sender.
public struct InboundMessage: Sendable, Equatable {
    /// The platform's id of the message.
    public var id: String
    public var chat: String
    public var sender: String
    /// The sender's name as the platform shows it (for operators; never trusted).
    public var display: String
    public var text: String
    /// Sent in a group chat (not a direct chat with the bot).
    public var group: Bool
    /// The bot was mentioned (or replied to).
    public var mentioned: Bool
    public var attachments: [ChannelAttachment]

    public init(
        id: String,
        chat: String,
        sender: String,
        display: String,
        text: String,
        group: Bool = false,
        mentioned: Bool = false,
        attachments: [ChannelAttachment] = []
    ) {
        self.id = id
        self.chat = chat
        self.sender = sender
        self.display = display
        self.text = text
        self.group = group
        self.mentioned = mentioned
        self.attachments = attachments
    }
}

/// A file sent with a message: what the platform needs to fetch it.
public struct ChannelAttachment: Sendable, Equatable {
    public var name: String
    /// The size the platform announced, if it did.
    public var size: Int?
    /// Telegram's `file_id`, Discord's URL, Matrix's `mxc://` URI.
    public var reference: String
    public init(name: String, size: Int?, reference: String) {
        self.name = name
        self.size = size
        self.reference = reference
    }
}

/// A button under a bot's message, pressed by a sender (or a Matrix reaction or command standing for one).
public struct ButtonPress: Sendable, Equatable {
    /// What the platform needs to acknowledge it (Telegram's callback id, Discord's interaction id and token).
    public var id: String
    public var chat: String
    public var sender: String
    /// The button's data: `approve:<approval>` or `reject:<approval>`.
    public var data: String
    public init(id: String, chat: String, sender: String, data: String) {
        self.id = id
        self.chat = chat
        self.sender = sender
        self.data = data
    }
}

/// A button to show under a message.
public struct ChannelButton: Sendable, Equatable {
    public var label: String
    /// At most 64 bytes (Telegram's limit for `callback_data`).
    public var data: String
    public init(label: String, data: String) {
        self.label = label
        self.data = data
    }
}

/// A platform refused or failed a request.
public struct PlatformError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var description: String
    public init(status: Int = 0, _ description: String) {
        self.status = status
        self.description = description
    }
}

extension OspreyConfig.Channel {
    /// The connector for this channel's platform, with its resolved bot token.
    public func connector(token: String, logger: Logger) -> any ChannelConnector {
        switch kind {
        case .telegram:
            TelegramConnector(baseURL: baseURL, token: token, pollSeconds: pollSeconds, logger: logger)
        case .discord:
            DiscordConnector(baseURL: baseURL, token: token, gatewayURL: gatewayURL, logger: logger)
        case .matrix:
            MatrixConnector(baseURL: baseURL, token: token, pollSeconds: pollSeconds, logger: logger)
        }
    }
}
