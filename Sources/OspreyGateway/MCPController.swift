import AsyncAlgorithms
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyMCP
import OspreyStore
import ServiceLifecycle
import Synchronization

/// `/mcp` (and `/api/mcp`): Osprey as an MCP server over Streamable HTTP (protocol 2025-06-18), for MCP hosts that
/// connect by URL, and for `osprey mcp serve`, which carries a host's stdio here.
///
/// It is one more door on the one operation table: each tool call, resource read and prompt is an operation called
/// with the request's token, so role and scope checks, validation, the policy and the ledger are the REST API's
/// own; the ledger names the MCP session as the actor (`user:<token>/mcp:<session>`). The routes sit behind the
/// same Host and Origin checks, bearer tokens and lockout as `/api`.
///
/// POST carries one JSON-RPC message: `initialize` opens a session and answers with its `Mcp-Session-Id`; every
/// later message must carry that id (400 without it, 404 for one that ended or never was) and the token that
/// opened it. A request is answered with `application/json`, or, when the host accepts `text/event-stream` and
/// asks for progress of a request that may take a while (a tool call, a read), with a stream of its progress
/// notifications and then its answer; a notification or response gets 202. GET opens the session's own stream (resource updates), resumable
/// with `Last-Event-ID`; DELETE ends the session.
struct MCPController {
    let operations: [String: Operation]
    let maxBodyBytes: Int
    let ledger: Ledger
    /// Each configured agent's name and model, for the prompts.
    let agents: [(name: String, model: String)]
    /// Who `ask_agent` talks to when the host names nobody and the token is bound to no agent (`[mcp] serve_agent`).
    let serveAgent: String
    /// The streams each token holds open: a session's GET stream takes one.
    let quota: StreamQuota
    let sessions = MCPSessions()

    static let paths = ["/mcp", "/api/mcp"]
    static let sessionHeader = HTTPField.Name("Mcp-Session-Id")!
    static let versionHeader = HTTPField.Name("MCP-Protocol-Version")!
    static let lastEventHeader = HTTPField.Name("Last-Event-ID")!

    /// Why a request after `initialize` cannot be served for its `MCP-Protocol-Version`: one this door does not
    /// speak gets 400, as the spec requires. None is served (a 2025-03-26 host sends none).
    static func versionProblem(_ request: Request) -> String? {
        guard let asked = request.headers[versionHeader], !MCPServerSession.protocolVersions.contains(asked) else {
            return nil
        }
        let supported = MCPServerSession.protocolVersions.joined(separator: ", ")
        return "Unsupported MCP-Protocol-Version '\(asked.prefix(40))' (supported: \(supported))"
    }

    /// One MCP session: the protocol engine, whose token opened it, its own stream's messages, and the watch that
    /// turns ledger events into resource updates while it has subscriptions.
    final class Entry: Sendable {
        let id: String
        let tokenID: String?
        let outbox = Outbox()
        private let state = Mutex<(session: MCPServerSession?, watch: Task<Void, Never>?)>((nil, nil))

        init(id: String, tokenID: String?) {
            self.id = id
            self.tokenID = tokenID
        }

        var session: MCPServerSession? { state.withLock { $0.session } }

        func attach(_ session: MCPServerSession) { state.withLock { $0.session = session } }

        /// Follows the ledger once the host subscribes to something.
        func watch(_ bus: EventBus) {
            state.withLock { state in
                guard state.watch == nil, let session = state.session else { return }
                let events = bus.subscribe()
                state.watch = Task {
                    for await event in events where !session.subscriptions.isEmpty {
                        for uri in OspreyToolCatalog.resourcesChanged(by: event) { session.resourceUpdated(uri) }
                    }
                }
            }
        }

        func close() {
            let (session, watch) = state.withLock { state in
                defer { state = (nil, nil) }
                return state
            }
            watch?.cancel()
            session?.close()
            outbox.finish()
        }
    }

    /// The messages of a session's own stream, numbered, the last few hundred kept for `Last-Event-ID`; one GET
    /// stream reads them at a time (a new one takes over).
    final class Outbox: Sendable {
        private struct State {
            var kept: [(id: Int, frame: String)] = []
            var next = 1
            var listener: AsyncStream<String>.Continuation?
            var finished = false
        }
        private let state = Mutex(State())
        static let keep = 256

        func post(_ message: JSONValue) {
            state.withLock { state in
                let frame = ServerSentEvent(event: "message", data: message.canonicalJSON, id: String(state.next))
                    .encoded
                state.kept.append((state.next, frame))
                state.next += 1
                if state.kept.count > Self.keep { state.kept.removeFirst(state.kept.count - Self.keep) }
                state.listener?.yield(frame)
            }
        }

        /// The frames after `lastID`, then each new one, until another stream takes over or the session ends. A
        /// stream whose client stops reading keeps the newest `keep` frames, as many as `Last-Event-ID` could replay.
        func listen(after lastID: Int) -> AsyncStream<String> {
            let (stream, sink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(Self.keep))
            state.withLock { state in
                state.listener?.finish()
                for (id, frame) in state.kept where id > lastID { sink.yield(frame) }
                if state.finished { sink.finish() } else { state.listener = sink }
            }
            return stream
        }

        func finish() {
            state.withLock { state in
                state.finished = true
                state.listener?.finish()
                state.listener = nil
            }
        }
    }

    /// The open sessions: at most `perToken` of one token (its oldest is closed to make room) and `limit` in all
    /// (the oldest of the token holding the most is closed), so no token, however many sessions it opens, closes
    /// another's.
    final class MCPSessions: Sendable {
        private let table = Mutex<(entries: [String: Entry], order: [String])>(([:], []))
        let limit: Int
        let perToken: Int

        init(limit: Int = 1000, perToken: Int = 64) {
            self.limit = limit
            self.perToken = perToken
        }

        func open(tokenID: String?) -> Entry {
            let entry = Entry(id: "mcp_" + UUID().uuidString.lowercased(), tokenID: tokenID)
            let evicted = table.withLock { table -> Entry? in
                table.entries[entry.id] = entry
                table.order.append(entry.id)
                let holders = Dictionary(grouping: table.order) { table.entries[$0]?.tokenID ?? "" }
                let over: String?
                if let own = holders[tokenID ?? ""], own.count > perToken {
                    over = tokenID ?? ""
                } else if table.order.count > limit {
                    over = holders.max { $0.value.count < $1.value.count }?.key
                } else {
                    over = nil
                }
                guard let over, let oldest = holders[over]?.first else { return nil }
                table.order.removeAll { $0 == oldest }
                return table.entries.removeValue(forKey: oldest)
            }
            evicted?.close()
            return entry
        }

        /// The session `id`, if the token `tokenID` opened it: another token learns nothing about it, not even
        /// that it exists.
        func get(_ id: String, tokenID: String?) -> Entry? {
            table.withLock { $0.entries[id] }.flatMap { $0.tokenID == tokenID ? $0 : nil }
        }

        func close(_ id: String) {
            let entry = table.withLock { table in
                table.order.removeAll { $0 == id }
                return table.entries.removeValue(forKey: id)
            }
            entry?.close()
        }
    }

    func add(to routes: inout RouteTable) {
        for path in Self.paths {
            routes.on(.post, path, .role(.viewer)) { request, context in try await post(request, context) }
            routes.on(.get, path, .role(.viewer)) { request, context in try stream(request, context) }
            routes.on(.delete, path, .role(.viewer)) { request, context in
                let entry = try existing(request, context)
                sessions.close(entry.id)
                return Response(status: .noContent)
            }
        }
    }

    func existing(_ request: Request, _ context: GatewayRequestContext) throws -> Entry {
        if let problem = Self.versionProblem(request) { throw APIError.badRequest(problem + ".") }
        guard let id = request.headers[Self.sessionHeader] else {
            throw APIError.badRequest("Header 'Mcp-Session-Id' is required after initialize.")
        }
        guard let entry = sessions.get(id, tokenID: context.token?.id.rawValue), entry.session != nil else {
            throw APIError(.notFound, "not_found", "No MCP session \(id): initialize again.")
        }
        return entry
    }

    func post(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let message: JSONValue
        do {
            message = try await JSONRPC.message(of: request, upTo: maxBodyBytes)
        } catch let refusal as JSONRPC.Refusal {
            return refusal.response
        }
        var headers: HTTPFields = [:]
        let entry: Entry
        if message["method"]?.stringValue == "initialize" {
            entry = sessions.open(tokenID: context.token?.id.rawValue)
            let outbox = entry.outbox
            entry.attach(await engine(session: entry.id, token: context.token) { outbox.post($0) })
            headers[Self.sessionHeader] = entry.id
        } else {
            // Refused as JSON-RPC errors too, so a host (or `osprey mcp serve`) can tell its own request why.
            let id = message["method"] != nil ? message["id"] ?? .null : .null
            if let problem = Self.versionProblem(request) {
                return JSONRPC.answer(JSONRPC.error(id, -32600, "Bad request: \(problem)"), status: .badRequest)
            }
            guard let sessionID = request.headers[Self.sessionHeader] else {
                return JSONRPC.answer(
                    JSONRPC.error(id, -32600, "Bad request: initialize first (no Mcp-Session-Id header)"),
                    status: .badRequest
                )
            }
            guard let found = sessions.get(sessionID, tokenID: context.token?.id.rawValue), found.session != nil
            else {
                return JSONRPC.answer(
                    JSONRPC.error(id, -32001, "No MCP session \(sessionID): initialize again"),
                    status: .notFound
                )
            }
            entry = found
        }
        guard let session = entry.session else { throw APIError(.notFound, "not_found", "The MCP session ended.") }
        let method = message["method"]?.stringValue
        guard message["id"] != nil, method != nil else {
            // A notification (a method, no id) or an answer to the server (a result or an error, no method) is
            // taken with 202; anything else (a batch, a scalar, an id with a method that is no string) is no
            // request, and the engine says why, as an answer.
            let notification = message["id"] == nil && method != nil
            let answer = message["method"] == nil && (message["result"] != nil || message["error"] != nil)
            guard message.objectValue != nil, notification || answer else {
                return JSONRPC.answer(await Self.single(message, to: session), headers: headers)
            }
            session.receive(message)
            return Response(status: .accepted, headers: headers)
        }
        if method == "resources/subscribe" { entry.watch(ledger.bus) }
        // A stream only when there is something to stream: progress the host asked for. Otherwise one JSON answer,
        // which costs less (the answer may still take as long as the work does).
        let streams =
            Self.streamingMethods.contains(method ?? "") && request.wantsEventStream
            && message["params"]?["_meta"]?["progressToken"] != nil
        guard streams else { return JSONRPC.answer(await Self.single(message, to: session), headers: headers) }
        // Progress notifications as they come, then the answer, which ends the stream.
        let (frames, sink) = AsyncStream<JSONValue>.makeStream()
        session.receive(message) { reply in
            sink.yield(reply)
            if reply["id"] != nil && reply["method"] == nil { sink.finish() }
        }
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { @concurrent writer in
                for await frame in frames {
                    try await writer.write(
                        ByteBuffer(string: ServerSentEvent(event: "message", data: frame.canonicalJSON).encoded)
                    )
                }
                try await writer.finish(nil)
            }
        )
    }

    /// A new session's protocol engine, acting for `token`: the catalog's tools and the agent's own (by the
    /// token's bound agent, else `[mcp] serve_agent`; none of its own if the agent is unknown: the catalog still
    /// works), the resources and the prompts. Both doors (HTTP and the socket) open their sessions here.
    func engine(
        session id: String,
        token: TokenRecord?,
        send: @escaping @Sendable (JSONValue) -> Void,
        requestEnded: @escaping @Sendable () -> Void = {}
    ) async -> MCPServerSession {
        var caller = Caller(token: token)
        caller.door = "mcp:\(id)"
        let agent = token?.agent ?? serveAgent
        let listed = (try? await operation(caller)("tools.list", ["agent": .string(agent)], .silent)) ?? [:]
        return MCPServerSession(
            tools: OspreyToolCatalog.tools(agent: agent, operation: operation(caller))
                + OspreyToolCatalog.agentTools(listed, operation: operation(caller)),
            resources: OspreyToolCatalog.resources(agent: agent, operation: operation(caller)),
            prompts: OspreyToolCatalog.prompts(agents: agents),
            version: Kernel.version,
            instructions: OspreyToolCatalog.instructions,
            send: send,
            requestEnded: requestEnded
        )
    }

    /// Requests whose answer may take a while, and so may stream progress first.
    static let streamingMethods: Set<String> = ["tools/call", "resources/read", "resources/list", "prompts/get"]

    /// The one answer to a message.
    static func single(_ message: JSONValue, to session: MCPServerSession) async -> JSONValue {
        await withCheckedContinuation { continuation in
            let once = Mutex(false)
            // Started on this handler's own thread: a call answered from the store needs no hop to the task pool.
            session.receive(message, immediate: true) { answer in
                // Progress notifications are dropped: a host that wants them accepts an event stream.
                guard answer["method"] == nil else { return }
                let first = once.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: answer) }
            }
        }
    }

    /// The session's own stream: resource updates, kept-alive, resumable with `Last-Event-ID`.
    func stream(_ request: Request, _ context: GatewayRequestContext) throws -> Response {
        guard request.wantsEventStream else {
            throw APIError(.notAcceptable, "not_acceptable", "The MCP stream is text/event-stream.")
        }
        let entry = try existing(request, context)
        var after = 0
        if let header = request.headers[Self.lastEventHeader] {
            guard let id = Int(header), id >= 0 else { throw APIError.badRequest("Last-Event-ID must be a number.") }
            after = id
        }
        let hold = try quota.take(context.token)
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: Self.streamBody(entry.outbox.listen(after: after), hold: hold)
        )
    }

    /// Writes the stream's frames as the host takes them, with keep-alives. A hand-over, not a second buffer: a host
    /// that stops reading holds one frame here, and its outbox the newest few it could replay (``Outbox/keep``).
    static func streamBody(_ frames: AsyncStream<String>, hold: StreamQuota.Hold? = nil) -> ResponseBody {
        ResponseBody { @concurrent writer in
            defer { hold?.release() }
            let chunks = AsyncChannel<String>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { chunks.finish() }
                    for await frame in frames { await chunks.send(frame) }
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: EventsController.keepAlive)
                        await chunks.send(": keep-alive\n\n")
                    }
                }
                try await writer.write(ByteBuffer(string: ": connected\n\n"))
                try await withGracefulShutdownHandler {
                    for await chunk in chunks { try await writer.write(ByteBuffer(string: chunk)) }
                } onGracefulShutdown: {
                    chunks.finish()
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
    }

    /// The operation table as the catalog calls it: with the caller's token, a run's steps as progress.
    func operation(_ caller: Caller) -> OspreyToolCatalog.Operation {
        let operations = self.operations
        return { name, fields, progress in
            var caller = caller
            caller.onRunEvent = { _, event in
                let (type, data) = AgentRunner.frame(event)
                progress.tick(type == "text_delta" ? data["text"]?.stringValue ?? "" : "\(type): \(data.canonicalJSON)")
            }
            do {
                return try await operations.call(name, fields, as: caller)
            } catch {
                // The REST door's reading of the failure, so both doors say the same.
                guard let error = APIError.from(error) else { throw error }
                if error.code == "not_found", name.hasSuffix(".get") || name == "sessions.messages" {
                    throw MCPResourceNotFound(uri: "\(name) \(fields["id"] ?? fields["session"] ?? .null)")
                }
                throw MCPError.toolFailed("\(error.code): \(error.message)")
            }
        }
    }
}
