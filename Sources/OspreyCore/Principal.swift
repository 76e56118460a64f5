/// Who did something, as recorded in an event's `actor`: `system`, `anonymous`, `agent:<name>`, `user:<token name>`,
/// `task:<id>` or `schedule:<id>`; a user acting through a door's session adds it (`user:<token name>/mcp:<id>`).
///
/// Not expressible by a string literal: a principal is built by one of its constructors, so its form is never
/// misspelt. The raw value is part of the ledger's hashed bytes.
public struct Principal: StringVocabulary {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The gateway itself: start-up, expiries, settlements, recoveries.
    public static let system = Principal(rawValue: "system")
    /// A caller that presented no valid token.
    public static let anonymous = Principal(rawValue: "anonymous")

    /// An agent acting in a run (`agent:<name>`).
    public static func agent(_ name: String) -> Principal { Principal(rawValue: "agent:" + name) }
    /// The holder of an API token, by the token's name (`user:<name>`).
    public static func user(_ name: String) -> Principal { Principal(rawValue: "user:" + name) }
    /// A background task acting for itself (`task:<id>`).
    public static func task(_ id: BackgroundTask.ID) -> Principal { Principal(rawValue: "task:" + id.rawValue) }
    /// A chat platform's sender, on the channel `channel` (`channel:<channel>/<sender>`).
    public static func channel(_ channel: String, sender: String) -> Principal {
        Principal(rawValue: "channel:\(channel)/\(sender)")
    }
    /// This principal acting through a door's session (`user:ci/mcp:mcp_…`).
    public func through(_ door: String) -> Principal { Principal(rawValue: rawValue + "/" + door) }
}
