import Foundation
import HTTPTypes
import NIOCore
import OspreyAgent
import OspreyCore
import OspreyStore

/// One thing a client can ask the gateway to do, written once and bound to every door (REST, WebSocket).
///
/// An operation has a name (`sessions.create`), the role it needs, a typed request decoded strictly from
/// ``Fields`` and a handler. Its scope group, the name before the dot, is the token scope that reaches it.
/// The doors only say where the fields come from (path, query, body, frame params) and how the answer is
/// written; the role and scope check (``Gatekeeper/refusal(token:role:group:)``) and the request decoding
/// happen here, once.
struct Operation: Sendable {
    let name: String
    let role: TokenRole
    /// Every field the request reads; any other is refused.
    let fields: Set<String>
    private let handler: @Sendable (Fields, Caller) async throws -> JSONValue

    /// The token scope that reaches this operation: the part of the name before the dot.
    var group: String { String(name.split(separator: ".", maxSplits: 1).first ?? "") }

    init<Request: OperationRequest>(
        _ name: String,
        role: TokenRole,
        _ handler: @escaping @Sendable (Request, Caller) async throws -> JSONValue
    ) {
        self.name = name
        self.role = role
        self.fields = Request.fields
        self.handler = { fields, caller in try await handler(try Request(fields.strict(Request.fields)), caller) }
    }

    /// Checks the caller's role and scopes, decodes the request and runs the handler.
    ///
    /// The answer is the REST body; a door may reshape it (see ``WebSocketController``).
    func call(_ fields: Fields, caller: Caller) async throws -> JSONValue {
        if let refusal = Gatekeeper.refusal(token: caller.token, role: role, group: group) { throw refusal }
        return try await handler(fields, caller)
    }
}

extension [String: Operation] {
    /// Calls the operation `name` with JSON `fields` as `caller`: how a door other than the REST routes (OpenAI, A2A,
    /// MCP, a seed's evaluation) reaches the one table. A name the table lacks is the door's own bug: a 500.
    func call(_ name: String, _ fields: [String: JSONValue], as caller: Caller) async throws -> JSONValue {
        guard let operation = self[name] else {
            throw APIError(.internalServerError, "internal_error", "no operation \(name)")
        }
        return try await operation.call(Fields(json: fields), caller: caller)
    }
}

/// Who calls an operation, whichever door the call came through.
struct Caller: Sendable {
    var token: TokenRecord?
    /// Hears an agent run's progress (deltas, tool calls); a door that cannot stream leaves it a no-op.
    var onRunEvent: @Sendable (Session.ID, AgentEvent) async throws -> Void = { _, _ in }

    /// The door's own session the call came through (`mcp:<session>`), when it has one.
    var door: String?

    /// True when the door vouches for none of the content it carries (another agent's message through A2A): work
    /// it starts is tainted from the outset.
    var untrusted = false

    /// Completes when the caller's connection closes (a door over HTTP): a streamed answer stops its work then.
    var connectionClosed: EventLoopFuture<Void>?

    /// Who acts when it is not a token's holder (a channel's sender, `channel:<channel>/<sender>`).
    var principal: Principal?

    /// Who is acting, for the ledger: `user:<token name>` or `anonymous` (or ``principal``), and `/<door session>`
    /// after it when the call came through one (`user:ci/mcp:mcp_…`).
    var actor: Principal {
        let principal = principal ?? token.map { Principal.user($0.name) } ?? .anonymous
        return door.map { principal.through($0) } ?? principal
    }
}

/// An operation's typed request, decoded from ``Fields`` after unknown fields were refused.
protocol OperationRequest: Sendable {
    /// Every field the request has.
    static var fields: Set<String> { get }
    init(_ fields: Fields) throws
}

/// A request with no fields.
struct NoFields: OperationRequest {
    static let fields: Set<String> = []
    init(_ fields: Fields) throws {}
}

/// The `id` of a record the operation acts on.
struct RecordID: OperationRequest {
    static let fields: Set<String> = ["id"]
    let id: String
    init(_ fields: Fields) throws { id = try fields.string("id") }
}

/// The `session` an operation acts on.
struct SessionRef: OperationRequest {
    static let fields: Set<String> = ["session"]
    let session: Session.ID
    init(_ fields: Fields) throws { session = Session.ID(try fields.string("session")) }
}

/// A request's fields as a door found them (a JSON body, WebSocket params, path or query parameters), read with
/// types. Each field remembers where it came from, so an error names it the way the client wrote it.
struct Fields: Sendable {
    /// Where a field came from.
    enum Source: Sendable {
        /// A JSON value: a request body or a WebSocket frame's params.
        case json
        /// Text from the URL: a path segment or a query parameter.
        case path
        case query
    }

    private var values: [String: (value: JSONValue, source: Source)] = [:]

    init() {}

    init(json members: [String: JSONValue]) {
        for (key, value) in members { values[key] = (value, .json) }
    }

    subscript(key: String) -> JSONValue? { values[key]?.value }

    /// The JSON members, for requests that read nested values.
    var members: [String: JSONValue] { values.mapValues(\.value) }

    mutating func set(_ key: String, _ value: JSONValue, from source: Source) {
        values[key] = (value, source)
    }

    /// These fields, after refusing any outside `allowed` (so a typo is not silently ignored).
    func strict(_ allowed: Set<String>) throws -> Fields {
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.badRequest("Unknown field '\(unknown)'.")
        }
        return self
    }

    /// How the client wrote the field: `Query parameter 'limit'` or `Field 'limit'`.
    func label(_ key: String) -> String {
        values[key]?.source == .query ? "Query parameter '\(key)'" : "Field '\(key)'"
    }

    func optionalString(_ key: String) throws -> String? {
        switch values[key] {
        case nil, (.null, _)?: return nil
        case (.string(let text), .query)?: return text.isEmpty ? nil : text
        case (.string(let text), _)?: return text
        default: throw APIError.badRequest("\(label(key)) must be a string.")
        }
    }

    func string(_ key: String) throws -> String {
        guard let value = try optionalString(key), values[key]?.source != .path || !value.isEmpty else {
            throw APIError.badRequest("\(label(key)) is required.")
        }
        return value
    }

    func optionalInt(_ key: String) throws -> Int? {
        switch values[key] {
        case nil, (.null, _)?: return nil
        case (.int(let value), _)?: return value
        default: throw APIError.badRequest("\(label(key)) must be an integer.")
        }
    }

    /// An integer within `range`, or `fallback` when absent; a query parameter is parsed from its text.
    func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        let value: Int?
        switch values[key] {
        case nil, (.null, _)?: return fallback
        case (.string(let text), .query)?: value = Int(text)
        case (let json, _)?: value = json.intValue
        }
        guard let value, range.contains(value) else {
            throw APIError.badRequest(
                "\(label(key)) must be an integer in \(range.lowerBound)...\(range.upperBound)."
            )
        }
        return value
    }

    func optionalStrings(_ key: String) throws -> [String]? {
        switch values[key]?.value {
        case nil, .null?: return nil
        case .array(let items)?:
            return try items.map { item in
                guard case .string(let text) = item else {
                    throw APIError.badRequest("\(label(key)) must be an array of strings.")
                }
                return text
            }
        default: throw APIError.badRequest("\(label(key)) must be an array of strings.")
        }
    }
}
