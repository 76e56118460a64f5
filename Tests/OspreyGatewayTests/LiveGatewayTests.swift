import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Synchronization
import Testing

/// Tests against a real listening server: SSE streaming and resume, WebSocket upgrade rules and frames.
struct LiveGatewayTests {
    /// Reads `count` SSE events from the stream, sending `lastEventID` if given.
    static func readEvents(
        port: Int,
        count: Int,
        lastEventID: Int?,
        query: String = ""
    ) async throws -> [ServerSentEvent] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/events/stream\(query)")
        request.headers.add(name: "Authorization", value: "Bearer \(TestGateway.adminToken)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: String(lastEventID)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "content-type") == "text/event-stream")
        var parser = ServerSentEventParser()
        var events: [ServerSentEvent] = []
        for try await chunk in response.body {
            events += parser.feed(chunk.readableBytesView)
            if events.count >= count { break }
        }
        return Array(events.prefix(count))
    }

    @Test
    func theEventStreamResumesFromLastEventIDWithNoGapAndNoDuplicate() async throws {
        let gateway = try await TestGateway()
        for n in 1...10 {
            try await gateway.store.ledger.append(
                EventDraft(type: Event.Kind(rawValue: "test.before"), payload: ["n": .int(n)])
            )
        }
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // Given a client that saw events 1...4 and reconnects with Last-Event-ID: 4
            async let resumed = Self.readEvents(port: port, count: 16, lastEventID: 4)
            // When more events are written while it streams
            try await Task.sleep(for: .milliseconds(200))
            for n in 11...20 {
                try await gateway.store.ledger.append(
                    EventDraft(type: Event.Kind(rawValue: "test.after"), payload: ["n": .int(n)])
                )
            }
            // Then it gets 5...20 exactly once each, in order, with id = seq
            let events = try await resumed
            #expect(events.compactMap { $0.id.flatMap(Int.init) } == Array(5...20))
            #expect(
                events.map(\.event) == Array(repeating: "test.before", count: 6)
                    + Array(repeating: "test.after", count: 10)
            )
            let parsed = try events.map { try #require(Event(envelope: try JSONValue.parse($0.data))) }
            #expect(parsed.allSatisfy { $0.hash == $0.computedHash })
        }
    }

    @Test
    func theEventStreamFiltersByType() async throws {
        let gateway = try await TestGateway()
        try await gateway.store.ledger.append(EventDraft(type: .authFailed))
        _ = try await gateway.store.sessions.create(actor: .test)
        try await gateway.app().test(.live) { client in
            let events = try await Self.readEvents(
                port: try #require(client.port),
                count: 1,
                lastEventID: nil,
                query: "?type=session.*"
            )
            #expect(events.map(\.event) == ["session.created"])
        }
    }

    /// Sends a raw WebSocket upgrade request and returns the status line's code.
    static func upgradeStatus(port: Int, headers: [String: String], query: String = "") async throws -> UInt {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/ws\(query)")
        request.headers.add(name: "Connection", value: "Upgrade")
        request.headers.add(name: "Upgrade", value: "websocket")
        request.headers.add(name: "Sec-WebSocket-Version", value: "13")
        request.headers.add(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZSBub25jZQ==")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        return response.status.code
    }

    @Test
    func aWebSocketFromAForeignOriginGets403BeforeTheUpgrade() async throws {
        let gateway = try await TestGateway()
        let logs = CapturedLogs()
        try await gateway.app(logger: logs.logger).test(.live) { client in
            let port = try #require(client.port)
            let auth = "Bearer \(TestGateway.adminToken)"
            #expect(
                try await Self.upgradeStatus(
                    port: port,
                    headers: ["Origin": "https://evil.example", "Authorization": auth]
                ) == 403
            )
            #expect(
                try await Self.upgradeStatus(
                    port: port,
                    headers: ["Origin": "http://localhost:9999", "Authorization": auth]
                ) == 403
            )
            #expect(try await Self.upgradeStatus(port: port, headers: ["Origin": "https://evil.example"]) == 403)
            #expect(try await Self.upgradeStatus(port: port, headers: [:]) == 401)
        }
        // The foreign-origin attempts never reached authentication: one failure, the tokenless one's. It is recorded
        // as its answer goes out, so it is waited for (on PostgreSQL it was once not yet there).
        let failures = { try await gateway.store.ledger.events(filter: EventFilter(type: "auth.failed")).count }
        try await TestRuns.waitUntil(timeout: .seconds(30)) { try await failures() > 0 }
        #expect(try await failures() == 1)
        // A refusal is the client's doing: it is logged, but not as the gateway's own error (every refused upgrade
        // was logged at error level as "Error handling upgrade result").
        let errors = logs.entries(atLeast: .error).map(\.message)
        #expect(errors.isEmpty, "\(errors)")
        #expect(logs.entries.contains { $0.message == "Error handling upgrade result" && $0.level == .debug })
    }

    @Test(.timeLimit(.minutes(2))) func aTextFrameThatIsNotUTF8ClosesTheWebSocketUnanswered() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let answers = Collected()
            let close = try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/api/ws",
                configuration: .init(additionalHeaders: [.authorization: "Bearer \(TestGateway.adminToken)"]),
                logger: Logger(label: "ws-utf8")
            ) { inbound, outbound, _ in
                // `{"type":"req","id":1,"method":"ping"}` with two bytes that are no UTF-8 in the method's name
                let bytes = Array(#"{"type":"req","id":1,"method":"pi"#.utf8) + [0xFF, 0xFE] + Array(#"ng"}"#.utf8)
                try await outbound.write(
                    .custom(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: bytes)))
                )
                for try await message in inbound.messages(maxSize: 1 << 16) {
                    if case .text(let text) = message { answers.append(try JSONValue.parse(text)) }
                }
            }
            // The server ended the socket (with 1007, swift-websocket's close for it; the client reports its own
            // close) and answered nothing. Before: the frame was read with U+FFFD in place of the bytes, answered
            // as an unknown method, and the socket stayed open: this test ran into its time limit.
            #expect(close != nil)
            #expect(answers.frames.isEmpty, "\(answers.frames)")
        }
    }

    /// A client frame `text` (a WebSocket request), masked as RFC 6455 asks of a client, or not.
    static func clientFrame(_ text: String, masked: Bool) -> [UInt8] {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            frame.append(maskBit | UInt8(payload.count))
        } else {
            frame += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        guard masked else { return frame + payload }
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        return frame + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }

    @Test(.timeLimit(.minutes(2))) func aFrameWithoutAMaskClosesTheWebSocketUnanswered() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.live) { client in
            let socket = try RawHTTPConnection(port: try #require(client.port))
            await socket.send(
                "GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    + "Authorization: Bearer \(TestGateway.adminToken)\r\n\r\n"
            )
            #expect(RawHTTPConnection.status(await socket.read(until: "\r\n\r\n", timeout: 20)) == 101)
            // Masked frames are answered, a short one and one with a 16-bit length (its 200 bytes skipped whole)
            let long = #"{"type":"req","id":2,"method":"ping"}"# + String(repeating: " ", count: 200)
            await socket.send(Self.clientFrame(#"{"type":"req","id":1,"method":"ping"}"#, masked: true))
            await socket.send(Self.clientFrame(long, masked: true))
            let answered = await socket.read(until: #""id":2"#, timeout: 20)
            #expect(answered.contains(#""id":1"#) && answered.contains(#""id":2"#), "\(answered)")
            // One without a mask closes the socket (1002) and is not answered
            await socket.send(Self.clientFrame(#"{"type":"req","id":3,"method":"ping"}"#, masked: false))
            let (after, closed) = await socket.readAll(timeout: 20)
            #expect(closed)
            #expect(!after.contains(#""id":3"#), "\(after)")
            // the close frame 88 02 03 EA, read as text: its length 2, then 1002's 0x03 and 0xEA (no UTF-8)
            #expect(Array(after.unicodeScalars.map(\.value).suffix(3)) == [0x02, 0x03, 0xFFFD], "\(after)")
        }
    }

    @Test
    func theWebSocketAnswersRequestsAndStreamsSubscribedEvents() async throws {
        // The WebSocket client library always sends `Origin: ws://127.0.0.1` (no port): allow it explicitly.
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let frames = try await Self.converse(port: port, origin: nil)
            // Responses come back with the request ids, in order.
            let responses = frames.filter { $0["type"] == "res" }
            // The last frame has duplicate keys, so it is refused whole and its id cannot be trusted.
            #expect(responses.map { $0["id"] } == [1, 2, 3, 4, 5, 6, .null])
            #expect(responses[0]["ok"] == true)
            #expect(responses[2]["ok"] == true)
            #expect(responses[3]["ok"] == false)
            #expect(responses[3]["error"]?["code"] == "unknown_method")
            #expect(responses[4]["ok"] == false)
            #expect(responses[4]["error"]?["code"] == "not_found")
            // Params that are no object are refused (before: read as none, and sessions.list answered)
            #expect(responses[5]["ok"] == false)
            #expect(responses[5]["error"]?["code"] == "invalid_request", "\(responses[5])")
            #expect(responses[6]["error"]?["code"] == "malformed_json")
            // The subscription delivered session.created and the echoed message.user as events.
            let events = frames.filter { $0["type"] == "event" }.compactMap { $0["payload"]?["type"]?.stringValue }
            #expect(events.contains("session.created"))
            #expect(events.contains("message.user"))
        }
        let sessions = try await gateway.store.sessions.list()
        #expect(sessions.count == 1)
        #expect(
            try await gateway.store.sessions.messages(of: sessions[0].id).map(\.message) == [
                .user("hello over ws"), .assistant("Hello!"),
            ]
        )
    }

    @Test func anOpenWebSocketIsClosedWhenItsTokenIsRevoked() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        let (record, token) = try await gateway.store.tokens.create(name: "dash", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let store = gateway.store
            let close = try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/api/ws",
                configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)"]),
                logger: Logger(label: "ws-test")
            ) { inbound, outbound, _ in
                // Given a working connection
                try await outbound.write(.text(#"{"type":"req","id":1,"method":"ping"}"#))
                var iterator = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
                _ = try await iterator.next()
                // When the token is revoked elsewhere
                try await store.tokens.revoke(record.id, actor: .user("admin"))
                // Then the server closes this socket: the stream ends without another message.
                while try await iterator.next() != nil {}
            }
            #expect(close?.closeCode == .policyViolation)
        }
    }

    /// A socket runs at most `maxRunning` requests at once: a client that sends faster than its requests end waits on
    /// its own socket (its next frame read when one ends) instead of filling the gateway's memory with answers it
    /// does not read (2,000 `events.list` on one socket, none read: 360 MB in 10 s and growing, before).
    @Test(.timeLimit(.minutes(2))) func aSocketRunsABoundedNumberOfRequestsAtOnce() async throws {
        let provider = CountingSlowProvider()
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config, provider: provider)
        let limit = 16  // WebSocketConnection.maxRunning
        var made: [Session.ID] = []
        for _ in 0..<limit { made.append(try await gateway.store.sessions.create(title: "busy", actor: .test).id) }
        let sessions = made
        let answered = Collected()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/api/ws",
                configuration: .init(additionalHeaders: [.authorization: "Bearer \(TestGateway.adminToken)"]),
                logger: Logger(label: "ws-test")
            ) { inbound, outbound, _ in
                // As many sends as a socket runs at once, each waiting on the model, then a ping
                for (n, session) in sessions.enumerated() {
                    let params: JSONValue = ["session": .string(session.rawValue), "content": "hello"]
                    let frame: JSONValue = ["type": "req", "id": .int(n), "method": "sessions.send", "params": params]
                    try await outbound.write(.text(frame.canonicalJSON))
                }
                try await outbound.write(.text(#"{"type":"req","id":"ping","method":"ping"}"#))
                try await TestRuns.waitUntil(timeout: .seconds(20)) { provider.calls == limit }
                // One run ends (cancelled from elsewhere): only then is the ping read and answered
                _ = try await client.post("/api/sessions/\(sessions[0])/cancel")
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message else { continue }
                    let frame = try JSONValue.parse(text)
                    guard frame["type"] == "res" else { continue }
                    answered.append(frame["id"] ?? .null)
                    if frame["id"] == "ping" { break }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            // A send's answer came first (the cancelled one's, unless a slow model's 30 s ran out first), then the
            // ping's; before, the ping was answered at once
            #expect(answered.frames.count >= 2 && answered.frames.last == "ping", "\(answered.frames)")
            for session in sessions.dropFirst() { _ = try await client.post("/api/sessions/\(session)/cancel") }
        }
    }

    /// Opens a WebSocket, subscribes, creates a session, sends a message and a few bad frames; returns every frame received.
    static func converse(port: Int, origin: String?) async throws -> [JSONValue] {
        var headers: HTTPFields = [.authorization: "Bearer \(TestGateway.adminToken)"]
        if let origin { headers[.origin] = origin }
        let collected = Collected()
        try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/api/ws",
            configuration: .init(additionalHeaders: headers),
            logger: Logger(label: "ws-test")
        ) { inbound, outbound, _ in
            // Requests go out one at a time, each after the previous response; the session id comes from reply 2.
            var pending = [
                #"{"type":"req","id":1,"method":"subscribe","params":{"after":0}}"#,
                #"{"type":"req","id":2,"method":"sessions.create","params":{"title":"ws"}}"#,
            ]
            var responses = 0
            var sawMessageEvent = false
            try await outbound.write(.text(pending.removeFirst()))
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message else { continue }
                let frame = try JSONValue.parse(text)
                collected.append(frame)
                if frame["payload"]?["type"] == "message.user" { sawMessageEvent = true }
                guard frame["type"] == "res" else {
                    if responses == 7 && sawMessageEvent { break }
                    continue
                }
                responses += 1
                if responses == 2, let session = frame["payload"]?["id"]?.stringValue {
                    pending += [
                        #"{"type":"req","id":3,"method":"sessions.send","params":{"session":"\#(session)","content":"hello over ws"}}"#,
                        #"{"type":"req","id":4,"method":"no.such.method"}"#,
                        #"{"type":"req","id":5,"method":"sessions.get","params":{"session":"ses_missing"}}"#,
                        #"{"type":"req","id":6,"method":"sessions.list","params":[1]}"#,
                        #"{"type":"req","id":7,"method":"sessions.send","params":{"session":"x","content":"a","content":"b"}}"#,
                    ]
                }
                if !pending.isEmpty {
                    try await outbound.write(.text(pending.removeFirst()))
                } else if sawMessageEvent {
                    break
                }
            }
        }
        return collected.frames
    }
}
