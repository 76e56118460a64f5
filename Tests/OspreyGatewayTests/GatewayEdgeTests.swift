import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// The gateway's edge as an attacker meets it: every request over a real socket, with the bytes an attacker sends.
struct GatewayEdgeTests {
    /// Sends one raw request on a new connection and reads until the server closes; returns the status and the text.
    /// `timeout` only bounds a server that never answers: at the start of the suite hundreds of tests, Python peers
    /// and compilers share two cores, and an answer can take seconds.
    static func exchange(
        _ request: String,
        port: Int,
        timeout: Double = 30
    ) async throws -> (status: Int?, text: String) {
        let connection = try RawHTTPConnection(port: port)
        await connection.send(request)
        let (text, _) = await connection.readAll(timeout: timeout)
        return (RawHTTPConnection.status(text), text)
    }

    static func request(
        _ method: String,
        _ target: String,
        token: String? = nil,
        host: String = "127.0.0.1",
        contentType: String? = "application/json",
        body: String = ""
    ) -> String {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        if let contentType, !body.isEmpty || method == "POST" { text += "Content-Type: \(contentType)\r\n" }
        text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        return text
    }

    @Test func pathsTheRouterWouldReadDifferentlyNeverReachAHandler() async throws {
        // Given a pending approval and a viewer token
        let gateway = try await TestGateway()
        let (_, viewer) = try await gateway.store.tokens.create(name: "v", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        let approval = try await gateway.store.approvals.request(
            Approvals.Draft(
                agent: "default",
                session: nil,
                callID: "call_1",
                tool: "run_command",
                arguments: #"{"command":"rm -rf /tmp/x"}"#,
                argumentsHash: "h",
                risk: .dangerous,
                rule: "dangerous",
                reason: "test"
            ),
            lifetime: 60
        )
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // When the reported bypasses are sent with no token (or a viewer's)
            let attempts: [(String, String, String?, String)] = [
                ("GET", "//api/status", nil, ""),
                ("POST", "//api/tokens", nil, #"{"role":"admin"}"#),
                ("POST", "//api/approvals/\(approval.id.rawValue)/approve", nil, ""),
                ("GET", "/api//tokens", viewer, ""),
                ("POST", "/api//tokens", viewer, #"{"role":"admin"}"#),
                ("GET", "/api/status/", nil, ""),
                ("GET", "/api/./status", nil, ""),
                ("GET", "/x/../api/status", nil, ""),
                ("GET", "/api/%2e%2e/api/status", nil, ""),
                ("GET", "/api%2fstatus", nil, ""),
                ("GET", "//api/ws", nil, ""),
            ]
            for (method, target, token, body) in attempts {
                let (status, text) = try await Self.exchange(
                    Self.request(method, target, token: token, body: body),
                    port: port
                )
                // Then each is refused as non-canonical before anyone decides on it
                #expect(status == 400, "\(method) \(target): \(text.prefix(200))")
                #expect(text.contains("non_canonical_path"), "\(method) \(target)")
            }
            // And a path outside every route under /api is 401 without a token and 404 with one
            #expect(try await Self.exchange(Self.request("GET", "/api/nothing"), port: port).status == 401)
            #expect(
                try await Self.exchange(Self.request("GET", "/api/nothing", token: viewer), port: port).status == 404
            )
            // And the viewer still gets 403 on the canonical admin route
            #expect(
                try await Self.exchange(Self.request("GET", "/api/tokens", token: viewer), port: port).status == 403
            )
        }
        // And nothing was minted or granted
        let tokens = try await gateway.store.tokens.list()
        #expect(tokens.count == 2)
        #expect(try await gateway.store.approvals.get(approval.id).status == .pending)
    }

    @Test func aForeignWebSocketOriginIsRefusedOnEverySpellingOfThePath() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            for target in ["/api/ws", "/api/ws/", "//api/ws", "/api//ws"] {
                let upgrade =
                    "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Origin: http://evil.example\r\nAuthorization: Bearer \(TestGateway.adminToken)\r\n\r\n"
                let (status, text) = try await Self.exchange(upgrade, port: port)
                #expect(status == 403 || status == 400, "\(target): \(text.prefix(120))")
                #expect(status != 101)
            }
        }
    }

    @Test func aHostThatIsNotTheGatewaysIsRefusedOnEveryRoute() async throws {
        var config = OspreyConfig()
        config.gateway.allowedHosts = ["osprey.lan"]
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            for host in ["evil.example", "evil.example:\(port)", "127.0.0.1.evil.example", "localhost.evil.example"] {
                for target in ["/health", "/api/status", "/metrics"] {
                    let (status, text) = try await Self.exchange(
                        Self.request("GET", target, token: TestGateway.adminToken, host: host),
                        port: port
                    )
                    #expect(status == 421, "\(host) \(target)")
                    #expect(text.contains("unknown_host"))
                }
            }
            for host in ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)", "osprey.lan", "LOCALHOST"] {
                let (status, _) = try await Self.exchange(Self.request("GET", "/health", host: host), port: port)
                #expect(status == 200, "\(host)")
            }
        }
    }

    @Test func stateChangingRequestsThatAreNotJSONAreRefused() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let body = #"{"prompt":"hello"}"#
            for contentType in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                for token in [nil, TestGateway.adminToken] {
                    let (status, text) = try await Self.exchange(
                        Self.request("POST", "/api/tasks", token: token, contentType: contentType, body: body),
                        port: port
                    )
                    #expect(status == (token == nil ? 401 : 415), "\(contentType): \(text.prefix(120))")
                }
            }
            let (status, _) = try await Self.exchange(
                Self.request("POST", "/api/sessions", token: TestGateway.adminToken, contentType: nil, body: ""),
                port: port
            )
            #expect(status == 415)
            let (created, _) = try await Self.exchange(
                Self.request("POST", "/api/sessions", token: TestGateway.adminToken, body: "{}"),
                port: port
            )
            #expect(created == 201)
        }
        #expect(try await gateway.store.tasks.list(limit: 10).isEmpty)
    }

    @Test func aTokenNeverMintsOneWithMoreAuthorityThanItself() async throws {
        let gateway = try await TestGateway()
        let (_, bound) = try await gateway.store.tokens.create(name: "bot", role: .admin, agent: "a", actor: .test)
        let (_, scoped) = try await gateway.store.tokens.create(
            name: "s",
            role: .admin,
            scopes: ["tokens", "events"],
            actor: .test
        )
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.router) { client in
            // A bound token's child is bound to the same agent, whatever it asks for
            let child = try await client.post("/api/tokens", #"{"role":"admin"}"#, token: bound)
            #expect(child.status == .created)
            #expect(child.json["agent"] == "a")
            for body in [#"{"role":"admin","agent":"b"}"#] {
                try await client.execute(
                    uri: "/api/tokens",
                    method: .post,
                    headers: TestGateway.auth(bound),
                    body: TestGateway.json(body)
                ) { response in
                    #expect(response.status == .forbidden)
                    #expect(response.errorCode == "exceeds_authority")
                }
            }
            // A scoped token cannot widen its scopes
            try await client.execute(
                uri: "/api/tokens",
                method: .post,
                headers: TestGateway.auth(scoped),
                body: TestGateway.json(#"{"role":"viewer","scopes":["sessions"]}"#)
            ) { #expect($0.status == .forbidden) }
            let narrower = try await client.post("/api/tokens", #"{"role":"viewer"}"#, token: scoped)
            #expect(narrower.status == .created)
            #expect(narrower.json["scopes"] == ["tokens", "events"])
            // And the child of the bound token still cannot decide approvals
            let childToken = try #require(child.json["token"]?.stringValue)
            try await client.execute(
                uri: "/api/approvals/apr_none/approve",
                method: .post,
                headers: TestGateway.auth(childToken)
            ) { #expect($0.status == .forbidden) }
        }
    }

    @Test func scopesAndExpiryLimitWhatATokenReaches() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            let created = try await client.post("/api/tokens", #"{"role":"viewer","scopes":["events"]}"#)
            #expect(created.status == .created)
            let token = try #require(created.json["token"]?.stringValue)
            try await client.execute(uri: "/api/events", method: .get, headers: TestGateway.auth(token)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/api/sessions", method: .get, headers: TestGateway.auth(token)) {
                #expect($0.status == .forbidden)
                #expect($0.errorCode == "out_of_scope")
            }
            // An expiring token opens nothing once its expiry has passed
            let expiring = try await client.post("/api/tokens", #"{"role":"viewer","expires_in_seconds":1}"#)
            let short = try #require(expiring.json["token"]?.stringValue)
            let expiry = try #require(expiring.json["expires_at"]?.stringValue.flatMap(WireFormat.date(from:)))
            try await Task.sleep(for: .milliseconds(max(0, Int(expiry.timeIntervalSinceNow * 1000)) + 200))
            try await client.execute(uri: "/api/events", method: .get, headers: TestGateway.auth(short)) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func revokingATokenEndsItsOpenEventStream() async throws {
        let gateway = try await TestGateway()
        let (record, token) = try await gateway.store.tokens.create(name: "watcher", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let connection = try RawHTTPConnection(port: port)
            await connection.send(
                "GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
            )
            let opened = await connection.read(until: ": connected", timeout: 20)
            #expect(RawHTTPConnection.status(opened) == 200)
            try await gateway.store.tokens.revoke(record.id, actor: .test)
            try await gateway.kernel.refreshTokens()
            // The response ends (the last chunk); the connection itself may stay open for keep-alive. A stream that
            // never ends fails only after the generous wait, so a loaded machine does not make this flaky.
            let rest = await connection.read(until: "0\r\n\r\n", timeout: 20)
            #expect(rest.contains("event: revoked"))
            #expect(rest.hasSuffix("0\r\n\r\n"), "the stream did not end after its token was revoked")
        }
    }

    @Test(.timeLimit(.minutes(3))) func aClientThatStopsReadingAStreamIsCutOffAndOneThatReadsIsNot() async throws {
        var config = OspreyConfig()
        config.gateway.writeStallSeconds = 2
        let gateway = try await TestGateway(config: config)
        // More events than the loopback sockets hold (19 MB)
        let large = String(repeating: "z", count: 300_000)
        var appended = 0
        for n in 0..<64 {
            appended = try await gateway.store.ledger.append(
                EventDraft(
                    type: Event.Kind(rawValue: "test.large"),
                    actor: .system,
                    payload: ["n": .int(n), "text": .string(large)]
                )
            ).seq
        }
        let last = appended
        let request =
            "GET /api/events/stream?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(TestGateway.adminToken)\r\n\r\n"
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let stalled = try RawHTTPConnection(port: port)
            let reading = try RawHTTPConnection(port: port)
            await stalled.send(request)
            await reading.send(request)
            // One client reads the whole stream and then idles, reading, past the limit; the other reads nothing
            let streamed = await reading.read(until: "id: \(last)\n", timeout: 60)
            #expect(streamed.contains("id: \(last)\n"))
            try await Task.sleep(for: .seconds(6))
            // The one that read nothing finds its connection closed behind what its socket already held (before:
            // the stream went on for as long as it stayed connected)
            let (text, closed) = await stalled.readAll(timeout: 30)
            #expect(closed, "a client that read nothing for 6 s still has its stream")
            #expect(RawHTTPConnection.status(text) == 200)
            #expect(!text.contains("id: \(last)\n"))
            // The one that reads still gets what comes next
            let next = try await gateway.store.ledger.append(
                EventDraft(type: Event.Kind(rawValue: "test.next"), actor: .system)
            ).seq
            let more = await reading.read(until: "id: \(next)\n", timeout: 30)
            #expect(more.contains("id: \(next)\n"))
        }
    }

    @Test(.timeLimit(.minutes(3))) func aTokenHoldsAtMostItsShareOfTheGatewaysStreams() async throws {
        var config = OspreyConfig()
        config.gateway.maxStreamsPerToken = 2
        let gateway = try await TestGateway(config: config)
        let (_, token) = try await gateway.store.tokens.create(name: "monitor", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            func stream(_ token: String) async throws -> (RawHTTPConnection, String) {
                let connection = try RawHTTPConnection(port: port)
                await connection.send(
                    "GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
                )
                let head = await connection.read(until: "\r\n\r\n", timeout: 20)
                let marker = RawHTTPConnection.status(head) == 200 ? ": connected" : "too_many_streams"
                return (
                    connection, head + (head.contains(marker) ? "" : await connection.read(until: marker, timeout: 20))
                )
            }
            // A token's first two streams are served
            var first: RawHTTPConnection? = try await stream(token).0
            let (second, opened) = try await stream(token)
            #expect(RawHTTPConnection.status(opened) == 200)
            // A third is refused with 429, and so is a WebSocket for the same token (before: every connection the
            // gateway serves could be one token's)
            let (_, refused) = try await stream(token)
            #expect(RawHTTPConnection.status(refused) == 429)
            #expect(refused.contains("too_many_streams"), "\(refused)")
            let socket = try RawHTTPConnection(port: port)
            await socket.send(
                "GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    + "Authorization: Bearer \(token)\r\n\r\n"
            )
            let upgrade = await socket.read(until: "too_many_streams", timeout: 20)
            #expect(RawHTTPConnection.status(upgrade) == 429, "\(upgrade)")
            // Another token is not held back
            #expect(RawHTTPConnection.status(try await stream(TestGateway.adminToken).1) == 200)
            // Once one of the two closes (noticed at its next write), the token may open another
            first = nil
            var third: RawHTTPConnection?
            try await TestRuns.waitUntil(timeout: .seconds(30)) {
                try await gateway.store.ledger.append(
                    EventDraft(type: Event.Kind(rawValue: "test.poke"), actor: .system)
                )
                let (connection, answer) = try await stream(token)
                if RawHTTPConnection.status(answer) == 200 { third = connection }
                return third != nil
            }
            #expect(first == nil)
            _ = (second, third)
        }
    }

    @Test(.timeLimit(.minutes(3))) func anAddressHoldsAtMostItsShareOfTheGatewaysConnections() async throws {
        var config = OspreyConfig()
        config.gateway.maxConnectionsPerAddress = 4
        config.gateway.headerTimeoutSeconds = 600
        config.gateway.idleTimeoutSeconds = 600
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // The test framework's client holds one connection; three kept-alive ones more, each served once (so
            // each has surely been let in), make the address's four
            var held: [RawHTTPConnection] = []
            for _ in 0..<3 {
                let connection = try RawHTTPConnection(port: port)
                await connection.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let answer = await connection.read(until: "\r\n\r\n", timeout: 20)
                #expect(RawHTTPConnection.status(answer) == 200, "\(answer)")
                held.append(connection)
            }
            // A fourth from the same address is answered 429 and closed, before anything of it is read (before:
            // one address could take every connection the gateway serves, each for the header timeout)
            let refused = try RawHTTPConnection(port: port)
            await refused.send(Self.request("GET", "/health"))
            let (text, closed) = await refused.readAll(timeout: 20)
            #expect(RawHTTPConnection.status(text) == 429, "\(text)")
            #expect(text.contains("too_many_connections"), "\(text)")
            #expect(closed)
            // Once one of the three closes, the address may connect again
            held.removeFirst()
            try await TestRuns.waitUntil(timeout: .seconds(30)) {
                try await Self.exchange(Self.request("GET", "/health"), port: port).status == 200
            }
            #expect(held.count == 2)
        }
    }

    @Test func malformedRequestsAreAnsweredAndClosed() async throws {
        let gateway = try await TestGateway()
        let logs = CapturedLogs()
        try await gateway.app(logger: logs.logger).test(.live) { client in
            let port = try #require(client.port)
            let hugeURL = "/api/status?" + String(repeating: "a", count: 1 << 20)
            let manyHeaders = (0..<10_000).map { "X-H\($0): v\r\n" }.joined()
            let cases: [(String, [UInt8], Set<Int>)] = [
                (
                    "NUL in a header", Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\u{0}b\r\n\r\n".utf8),
                    [400]
                ),
                (
                    "invalid bytes in the path",
                    Array("GET /he".utf8) + [0xFF, 0xFE] + Array("alth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8),
                    [400]
                ),
                ("a garbage request line", Array("HELLO THERE\r\n\r\n".utf8), [400]),
                ("a 1 MB URL", Array("GET \(hugeURL) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8), [414]),
                (
                    "a 1 MB header",
                    Array(
                        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: \(String(repeating: "b", count: 1 << 20))\r\n\r\n"
                            .utf8
                    ),
                    [431]
                ),
                ("10,000 headers", Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\(manyHeaders)\r\n".utf8), [431]),
                // RFC 9112 §3.2: no Host in HTTP/1.1, two of them, or one that names no host
                ("HTTP/1.1 without a Host", Array("GET /health HTTP/1.1\r\n\r\n".utf8), [400]),
                (
                    "two Hosts", Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n".utf8),
                    [400]
                ),
                ("a Host with a path", Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1/x\r\n\r\n".utf8), [400]),
                ("an empty Host", Array("GET /health HTTP/1.1\r\nHost:\r\n\r\n".utf8), [400]),
            ]
            for (name, bytes, expected) in cases {
                let connection = try RawHTTPConnection(port: port)
                await connection.send(bytes)
                let (text, closed) = await connection.readAll(timeout: 30)
                let status = RawHTTPConnection.status(text)
                #expect(status.map(expected.contains) == true, "\(name): \(text.prefix(160))")
                #expect(closed, "\(name): the connection stayed open")
            }
            // And the gateway still serves, HTTP/1.0 without a Host (which it may omit) too
            #expect(try await Self.exchange(Self.request("GET", "/health"), port: port).status == 200)
            // RFC 9112 §9.3: without `keep-alive` an HTTP/1.0 connection ends after the answer, as does one whose
            // `Connection` names `close` among other options (both stayed open until the idle timeout).
            // A request sent after one that closes its connection is not read, and the first is answered (it was
            // answered 400 in its place).
            for request in [
                "GET /health HTTP/1.0\r\n\r\n",
                "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close, TE\r\nTE: trailers\r\n\r\n",
                "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                    + "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                "GET /health HTTP/1.0\r\n\r\nGET /health HTTP/1.0\r\n\r\n",
            ] {
                let connection = try RawHTTPConnection(port: port)
                await connection.send(request)
                let (answer, closed) = await connection.readAll(timeout: 30)
                #expect(answer.hasPrefix("HTTP/1.0 200") || answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(160))")
                #expect(answer.lowercased().contains("connection: close"), "\(answer.prefix(300))")
                #expect(closed, "\(request): the connection stayed open")
                #expect(answer.components(separatedBy: "HTTP/1.").count == 2, "\(answer)")
            }
            // One that asks to be kept alive is
            let kept = try RawHTTPConnection(port: port)
            await kept.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            await kept.send("GET /health HTTP/1.0\r\n\r\n")
            let (both, _) = await kept.readAll(timeout: 30)
            #expect(both.components(separatedBy: "200 OK").count == 3, "\(both)")
        }
        // What a client sent wrong is not the gateway's error: nothing of it is logged at error level.
        let errors = logs.entries(atLeast: .error).map { "\($0.message) \($0.metadata)" }
        #expect(errors.isEmpty, "\(errors)")
    }

    @Test func anAbsoluteTargetNamesTheHostAndAnExpectedBodyIsAskedFor() async throws {
        var config = OspreyConfig()
        config.gateway.maxBodyBytes = 4096
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // RFC 9112 §3.2.2: an absolute-form target's host is the request's, whatever `Host` says (a request
            // for evil.example was served because its Host header named the gateway)
            let foreign = "GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            let refused = try await Self.exchange(foreign, port: port)
            #expect(refused.status == 421 && refused.text.contains("unknown_host"), "\(refused.text.prefix(200))")
            let own = "GET http://127.0.0.1:\(port)/health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
            #expect(try await Self.exchange(own, port: port).status == 200)
            let withUser = "GET http://a@127.0.0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            #expect(try await Self.exchange(withUser, port: port).status == 400)

            // RFC 9110 §10.1.1: a client that expects 100-continue gets it before it sends its body (nothing came,
            // and curl waits a second for it before sending anyway)
            let expecting = { (length: Int) in
                "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(TestGateway.adminToken)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(length)\r\n"
                    + "Expect: 100-continue\r\nConnection: close\r\n\r\n"
            }
            let body = #"{"title":"asked for"}"#
            let connection = try RawHTTPConnection(port: port)
            await connection.send(expecting(body.utf8.count))
            let interim = await connection.read(until: "\r\n\r\n", timeout: 30)
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim.prefix(200))")
            await connection.send(body)
            let (final, _) = await connection.readAll(timeout: 30)
            #expect(final.contains("HTTP/1.1 201"), "\(final.prefix(300))")
            #expect(try await gateway.store.sessions.list().contains { $0.title == "asked for" })

            // A body over the limit is refused from its length, and never asked for
            let large = try RawHTTPConnection(port: port)
            await large.send(expecting(5000))
            let answer = await large.read(until: "\r\n\r\n", timeout: 30)
            #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer.prefix(200))")
        }
    }

    @Test(.timeLimit(.minutes(3))) func slowClientsAreCutOffAndDoNotHoldTheGateway() async throws {
        var config = OspreyConfig()
        config.gateway.headerTimeoutSeconds = 1
        config.gateway.idleTimeoutSeconds = 2
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // Given 200 connections that each send half a request head and then nothing
            let connections = try (0..<200).map { _ in try RawHTTPConnection(port: port) }
            for connection in connections {
                await connection.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            }
            // Then the gateway still answers while they hang
            #expect(try await Self.exchange(Self.request("GET", "/health"), port: port).status == 200)
            // And every one of them is closed once the header timeout passes: with 408 if its bytes had arrived,
            // silently if the timeout came first (the sends race the timer on a loaded machine). Connections that
            // are closed return at once; one left open fails only after a generous wait, because on a loaded 2-core
            // machine the gateway may accept the last of them seconds late (CI once saw 199 of 200 within 5 s).
            var closedCount = 0
            var answered = 0
            for connection in connections {
                let (text, closed) = await connection.readAll(timeout: 20)
                if closed { closedCount += 1 }
                let status = RawHTTPConnection.status(text)
                if status == 408 { answered += 1 }
                #expect(status == 408 || text.isEmpty, "\(text.prefix(80))")
            }
            #expect(closedCount == 200)
            #expect(answered > 0)
            // And a request whose body stops arriving is answered 408 at the idle timeout, not closed unanswered
            let stalled = try RawHTTPConnection(port: port)
            await stalled.send(
                "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(TestGateway.adminToken)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"agent\""
            )
            let (text, closed) = await stalled.readAll(timeout: 30)
            #expect(RawHTTPConnection.status(text) == 408, "\(text.prefix(160))")
            #expect(text.contains("request_timeout") && closed)
        }
    }

    @Test func theStatusRouteShowsTheLedgerWritersLiveSynchronousMode() async throws {
        let directory = try TemporaryDirectory()
        let home = Home(root: directory.url)
        _ = try home.bootstrap()
        try TestGateway.adminToken.write(to: home.tokenFile, atomically: true, encoding: .utf8)
        let kernel = try await Kernel.boot(home: home, config: OspreyConfig())
        let (response, metrics) = try await buildApplication(
            kernel: kernel,
            host: "127.0.0.1",
            port: 0,
            logger: Logger(label: "t")
        )
        .test(.router) { client in
            (
                try await client.execute(uri: "/api/status", method: .get, headers: TestGateway.auth()) { $0 },
                try await client.execute(uri: "/metrics", method: .get, headers: TestGateway.auth()) {
                    String(buffer: $0.body)
                }
            )
        }
        #expect(response.json["ledger_synchronous"] == "full")
        // Booting wrote to the ledger, through the group commit the status reports
        let commits = response.json["writes"]?["commits"]?.intValue ?? 0
        #expect(commits > 0)
        #expect(response.json["writes"]?["waiting"] == 0)
        // and /metrics, asked after it, counts at least those commits (a counter never goes back)
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("osprey_store_commits_total ") }
        #expect((line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0) >= commits)
        #expect(metrics.contains("osprey_store_transactions_total "))
    }

    @Test func theLedgerWriterReallyUsesTheConfiguredSynchronousMode() async throws {
        let directory = try TemporaryDirectory()
        let full = try Store.open(
            path: directory.url.appendingPathComponent("full.db").path,
            ledgerKey: Array(repeating: 1, count: 32),
            durability: .full
        )
        #expect(try await full.writerSynchronous() == 2)
        let normal = try Store.open(
            path: directory.url.appendingPathComponent("normal.db").path,
            ledgerKey: Array(repeating: 1, count: 32),
            durability: .normal
        )
        #expect(try await normal.writerSynchronous() == 1)
    }
}
