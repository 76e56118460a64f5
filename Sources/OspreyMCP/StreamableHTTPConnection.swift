public import AsyncHTTPClient
public import Foundation
public import NIOCore
import NIOHTTP1
public import OspreyCore
public import OspreySandbox
public import OspreyTools
import Synchronization

/// The client side of MCP's Streamable HTTP transport (protocol 2025-06-18): each message is a POST; the answer is
/// one JSON message or a server-sent event stream of messages (progress, then the answer); a GET opens the
/// session's own stream of server messages, resumed with `Last-Event-ID` when it drops.
///
/// The session id the server gives at `initialize` goes on every later request, and DELETE ends the session at
/// ``stop()``. With an egress policy the URL's host is checked by the SSRF guard once, and every connection is
/// pinned to the checked address. Messages are read with a cap (``maxMessageBytes``); a request whose answer
/// never comes (an HTTP error, a stream cut short, a message too large) gets a JSON-RPC error of its own, so the
/// caller is never left waiting. A 404 for a known session means the server forgot it: ``onExit`` is called.
public final class StreamableHTTPConnection: Sendable {
    public let url: URL
    private let headers: [(String, String)]
    private let client: HTTPClient
    private let ownsClient: Bool
    private let onMessage: @Sendable (Result<JSONValue, StdioConnectionError>) -> Void
    private let onExit: @Sendable (String) -> Void
    private let state = Mutex(State())

    struct State {
        var sessionID: String?
        var protocolVersion: String?
        var stream: Task<Void, Never>?
        var posts: [Int: Task<Void, Never>] = [:]
        /// The POST that carries each request in flight, by the request's id.
        var carriers: [JSONValue: Int] = [:]
        var nextPost = 0
        var stopped = false
        var exited = false
        /// The `initialize` in flight: later messages wait for it, so they carry the session it opens.
        var initializing: Task<Void, Never>?
    }

    /// The largest message (a JSON body, or one event's data) accepted from the server.
    public static let maxMessageBytes = 4 << 20

    /// `egress` nil trusts the URL as it is (the CLI talking to its own gateway); otherwise the host must pass it.
    public init(
        url: URL,
        headers: [String: String] = [:],
        egress: EgressPolicy?,
        onMessage: @escaping @Sendable (Result<JSONValue, StdioConnectionError>) -> Void,
        onExit: @escaping @Sendable (String) -> Void
    ) throws {
        self.url = url
        self.headers = headers.sorted { $0.key < $1.key }
        self.onMessage = onMessage
        self.onExit = onExit
        if let egress {
            let target = try HTTPFetch.check(url, egress: egress)
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(10))
            )
            // Connect to the address that was checked, whatever DNS says next; TLS still verifies the host name.
            configuration.dnsOverride = [target.host: target.address.description]
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            ownsClient = true
        } else {
            client = HTTPClient.shared
            ownsClient = false
        }
    }

    /// A connection dropped without ``stop()`` (the server ended its session, or its client went away) still shuts
    /// its own HTTP client down: AsyncHTTPClient must not be freed running (it traps in a debug build, and leaks).
    deinit {
        if ownsClient { client.shutdown { _ in } }
    }

    /// The session id the server gave, once it has.
    public var sessionID: String? { state.withLock { $0.sessionID } }

    /// Sends one message; what the server answers reaches ``onMessage``. False once the connection is stopped.
    @discardableResult
    public func send(_ message: JSONValue) -> Bool {
        send(
            bytes: ByteBuffer(string: message.canonicalJSON),
            id: message["method"] != nil ? message["id"] : nil,
            initialize: message["method"] == "initialize"
        )
    }

    /// Sends bytes as they are (a line from a host, which the server judges); `id` is the request's, for the error
    /// a failed POST turns into; `initialize` says the message opens the session, which later ones wait for.
    @discardableResult
    public func send(bytes: ByteBuffer, id: JSONValue?, initialize: Bool = false) -> Bool {
        state.withLock { state in
            guard !state.stopped else { return false }
            let key = state.nextPost
            state.nextPost += 1
            let before = state.initializing
            let post = Task {
                await before?.value
                await self.post(bytes, id: id)
                self.state.withLock { state in
                    state.posts[key] = nil
                    if let id, state.carriers[id] == key { state.carriers[id] = nil }
                }
            }
            state.posts[key] = post
            if let id { state.carriers[id] = key }
            if initialize { state.initializing = post }
            return true
        }
    }

    /// Cancels the POST that carries request `id`, which closes its connection: a server that never answers it
    /// would otherwise hold that connection for as long as the request may take (a day), and AsyncHTTPClient
    /// keeps at most 8 a host, so 8 such calls would leave every later request queued behind them.
    public func giveUp(on id: JSONValue) {
        let post = state.withLock { state -> Task<Void, Never>? in
            guard let key = state.carriers.removeValue(forKey: id) else { return nil }
            return state.posts.removeValue(forKey: key)
        }
        post?.cancel()
    }

    /// Waits for the requests in flight to be answered.
    public func drain() async {
        while let post = state.withLock({ $0.posts.values.first }) { await post.value }
    }

    /// Ends the session (DELETE) and every request and stream in flight.
    public func stop() async {
        let (tasks, session) = state.withLock { state in
            state.stopped = true
            defer {
                state.posts.removeAll()
                state.carriers.removeAll()
                state.stream = nil
            }
            return (Array(state.posts.values) + [state.stream].compactMap { $0 }, state.sessionID)
        }
        for task in tasks { task.cancel() }
        if let session {
            var request = request(.DELETE)
            request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: session)
            _ = try? await client.execute(request, timeout: .seconds(2))
        }
        if ownsClient { try? await client.shutdown() }
    }

    private func request(_ method: HTTPMethod) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let (session, version) = state.withLock { ($0.sessionID, $0.protocolVersion) }
        if let session { request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: session) }
        if let version { request.headers.replaceOrAdd(name: "MCP-Protocol-Version", value: version) }
        return request
    }

    private func post(_ body: ByteBuffer, id: JSONValue?) async {
        var request = request(.POST)
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
        request.body = .bytes(body)
        let hadSession = request.headers.contains(name: "Mcp-Session-Id")
        var answered = false
        func deliver(_ message: JSONValue) {
            // The answer to this POST's request: its id, or null on an error the server could not tie to it.
            if message["method"] == nil, message["id"] == id || message["id"] == .null { answered = true }
            if message["result"]?["protocolVersion"] != nil, let version = message["result"]?["protocolVersion"] {
                state.withLock { $0.protocolVersion = version.stringValue }
            }
            onMessage(.success(message))
        }
        do {
            let response = try await client.execute(request, timeout: .hours(24))
            if let session = response.headers.first(name: "mcp-session-id"), !session.isEmpty {
                let first = state.withLock { state in
                    defer { state.sessionID = session }
                    return state.sessionID == nil
                }
                if first { listen() }
            }
            let status = Int(response.status.code)
            if status == 404 && hadSession {
                fail(id, "the MCP server ended the session (HTTP 404)")
                exit("ended the session")
                return
            }
            guard (200..<300).contains(status) else {
                let text = String(buffer: (try? await response.body.collect(upTo: 4096)) ?? ByteBuffer())
                // A JSON-RPC error in the body is the server's own answer; anything else becomes one.
                if let body = try? JSONValue.parse(Array(text.utf8)), body["error"]?["code"] != nil,
                    body["jsonrpc"] == "2.0"
                {
                    return deliver(body)
                }
                return fail(id, "HTTP \(status): \(text.prefix(300))")
            }
            if response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") == true {
                try await read(response.body, deliver: deliver)
            } else if status != 202 {
                let bytes = try await response.body.collect(upTo: Self.maxMessageBytes)
                if bytes.readableBytes > 0 {
                    let value = try JSONValue.parse(bytes.readableBytesView)
                    for message in value.arrayValue ?? [value] { deliver(message) }
                }
            }
            if !answered, id != nil { fail(id, "the MCP server's answer ended without a reply to this request") }
        } catch is CancellationError {
            return
        } catch let error as NIOTooManyBytesError {
            fail(id, "the MCP server's answer is larger than \(Self.maxMessageBytes) bytes: \(error)")
        } catch {
            if !answered { fail(id, "request to the MCP server failed: \(error)") }
        }
    }

    /// Reads an event stream, each event's data one message; refuses an event larger than the cap.
    private func read(
        _ body: HTTPClientResponse.Body,
        lastEventID: ((String) -> Void)? = nil,
        deliver: (JSONValue) -> Void
    ) async throws {
        var parser = ServerSentEventParser()
        var pending = 0
        for try await chunk in body {
            pending += chunk.readableBytes
            let events = parser.feed(chunk.readableBytesView)
            if !events.isEmpty { pending = 0 }
            if pending > Self.maxMessageBytes { throw NIOTooManyBytesError(maxBytes: Self.maxMessageBytes) }
            for event in events where event.event == nil || event.event == "message" {
                if let id = event.id { lastEventID?(id) }
                guard !event.data.isEmpty else { continue }
                do {
                    deliver(try JSONValue.parse(Array(event.data.utf8)))
                } catch {
                    onMessage(.failure(StdioConnectionError("an event that is not JSON: \(error)")))
                }
            }
        }
    }

    /// The session's own stream: opened once the session exists, opened again (with `Last-Event-ID`) when it
    /// drops, and given up when the server offers none (405) or the connection stops.
    private func listen() {
        state.withLock { state in
            guard state.stream == nil, !state.stopped else { return }
            state.stream = Task {
                var last: String?
                var failures = 0
                while !Task.isCancelled {
                    var request = self.request(.GET)
                    request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
                    if let last { request.headers.replaceOrAdd(name: "Last-Event-ID", value: last) }
                    do {
                        let response = try await self.client.execute(request, timeout: .hours(24))
                        let status = Int(response.status.code)
                        if status == 405 || status == 404 { return }
                        if (200..<300).contains(status) {
                            failures = 0
                            try await self.read(response.body, lastEventID: { last = $0 }) {
                                self.onMessage(.success($0))
                            }
                        } else {
                            failures += 1
                        }
                    } catch {
                        failures += 1
                    }
                    if failures > 5 { return }
                    try? await Task.sleep(for: .milliseconds(250 << min(failures, 4)))
                }
            }
        }
    }

    /// Answers a request that will get no answer with a JSON-RPC error of its own.
    private func fail(_ id: JSONValue?, _ message: String) {
        guard let id else {
            return onMessage(.failure(StdioConnectionError(message)))
        }
        onMessage(.success(["jsonrpc": "2.0", "id": id, "error": ["code": -32000, "message": .string(message)]]))
    }

    private func exit(_ reason: String) {
        let first = state.withLock { state in
            defer { state.exited = true }
            return !state.exited
        }
        if first { onExit(reason) }
    }
}
