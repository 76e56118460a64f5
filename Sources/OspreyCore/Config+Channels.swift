import Foundation

extension OspreyConfig {
    /// A chat platform agents are reached through (`[[channels]]`).
    public struct Channel: Hashable, Sendable {
        public enum Kind: String, Hashable, Sendable, CaseIterable {
            case telegram, discord, matrix
        }

        /// Lower-case letters, digits, `-` and `_`: how the API, the CLI and the ledger name it (default: the kind).
        public var name: String
        public var kind: Kind
        /// The bot's credentials: `${secret:NAME}` or `${env:VAR}`, never in clear.
        public var token: String
        /// The agent every chat of the channel talks to.
        public var agent = "default"
        /// Sender ids allowed without pairing (the platform's user id: Telegram's number, Discord's snowflake,
        /// Matrix's `@user:server`).
        public var allow: [String] = []
        /// Sender ids that may answer approvals from the chat (they must also be allowed or paired).
        public var approvers: [String] = []
        /// Group chats (Telegram chat ids, Discord channel ids, Matrix room ids) the bot answers in, when mentioned
        /// and only to allowed senders; every other group is ignored.
        public var groups: [String] = []
        /// The platform's API root (a fake's on loopback in tests).
        public var baseURL: String
        /// Messages a sender may send per minute before the rest are refused.
        public var ratePerMinute = 20
        /// The least time between two edits of a streamed answer.
        public var editIntervalMilliseconds = 1000
        /// The largest attachment saved to the workspace's inbox; larger ones are refused, the message kept.
        public var maxAttachmentBytes = 10 << 20
        /// How long a pairing code stays valid.
        public var pairingSeconds = 600
        /// Long-poll wait (Telegram `getUpdates`, Matrix `/sync`).
        public var pollSeconds = 25
        /// Discord: the gateway WebSocket URL, instead of asking `GET /gateway/bot`.
        public var gatewayURL: String?

        public init(name: String, kind: Kind, token: String, baseURL: String) {
            self.name = name
            self.kind = kind
            self.token = token
            self.baseURL = baseURL
        }

        /// The platform's public API root.
        public static func defaultBaseURL(_ kind: Kind) -> String {
            switch kind {
            case .telegram: "https://api.telegram.org"
            case .discord: "https://discord.com/api/v10"
            case .matrix: "https://matrix.org"
            }
        }
    }
}

extension ConfigReader {
    func channels(_ value: JSONValue) throws -> [OspreyConfig.Channel] {
        guard let entries = value.arrayValue else {
            throw ConfigError("config.toml: channels must be an array of tables ([[channels]])")
        }
        var names: Set<String> = []
        return try entries.enumerated().map { position, entry in
            let section = "channels[\(position)]"
            guard let table = entry.objectValue else { throw ConfigError("config.toml: \(section) must be a table") }
            let keys = try self.section(
                table,
                name: section,
                known: [
                    "name", "kind", "token", "agent", "allow", "approvers", "groups", "base_url", "rate_per_minute",
                    "edit_interval_ms", "max_attachment_bytes", "pairing_seconds", "poll_seconds", "gateway_url",
                ]
            )
            let kinds = OspreyConfig.Channel.Kind.allCases.map(\.rawValue)
            guard let kindName = try keys.string("kind"),
                let kind = OspreyConfig.Channel.Kind(rawValue: kindName)
            else {
                throw ConfigError("config.toml: \(section).kind must be one of \(kinds.joined(separator: ", "))")
            }
            let name = try keys.string("name") ?? kind.rawValue
            guard name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil else {
                throw ConfigError("config.toml: \(section).name must be 1-32 lower-case letters, digits, - and _")
            }
            guard names.insert(name).inserted else {
                throw ConfigError("config.toml: two channels are named '\(name)'")
            }
            guard let token = try keys.string("token"),
                token.hasPrefix("${secret:") || token.hasPrefix("${env:"), token.hasSuffix("}")
            else {
                throw ConfigError(
                    "config.toml: \(section).token is required: ${secret:NAME} or ${env:VAR}, never the token in clear"
                )
            }
            let base = try keys.string("base_url") ?? OspreyConfig.Channel.defaultBaseURL(kind)
            guard let url = URL(string: base), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false
            else { throw ConfigError("config.toml: \(section).base_url must be an http(s) URL") }
            var channel = OspreyConfig.Channel(
                name: name,
                kind: kind,
                token: token,
                baseURL: base.hasSuffix("/") ? String(base.dropLast()) : base
            )
            channel.agent = try keys.string("agent") ?? channel.agent
            channel.allow = try keys.strings("allow") ?? []
            channel.approvers = try keys.strings("approvers") ?? []
            channel.groups = try keys.strings("groups") ?? []
            try keys.read("rate_per_minute", 1...600, into: &channel.ratePerMinute)
            try keys.read("edit_interval_ms", 100...60_000, into: &channel.editIntervalMilliseconds)
            try keys.read("max_attachment_bytes", 0...(100 << 20), into: &channel.maxAttachmentBytes)
            try keys.read("pairing_seconds", 60...86_400, into: &channel.pairingSeconds)
            try keys.read("poll_seconds", 1...50, into: &channel.pollSeconds)
            if let value = try keys.string("gateway_url") {
                guard value.hasPrefix("ws://") || value.hasPrefix("wss://") else {
                    throw ConfigError("config.toml: \(section).gateway_url must be a ws(s) URL")
                }
                channel.gatewayURL = value
            }
            return channel
        }
    }
}
