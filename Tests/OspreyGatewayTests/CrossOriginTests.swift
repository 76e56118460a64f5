import Foundation
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// HEAD, OPTIONS and cross-origin calls, over a real socket.
struct CrossOriginTests {
    static let app = "http://localhost:5173"

    static func exchange(_ text: String, port: Int) async throws -> (head: String, body: String) {
        let connection = try RawHTTPConnection(port: port)
        await connection.send(text)
        let (answer, _) = await connection.readAll(timeout: 30)
        let parts = answer.components(separatedBy: "\r\n\r\n")
        return (parts[0], parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    static func header(_ name: String, in head: String) -> String? {
        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
    }

    @Test func headIsAnsweredAsGetIsWithoutTheBody() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let get = try await Self.exchange(
                "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                port: port
            )
            let head = try await Self.exchange(
                "HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                port: port
            )
            // Before: 404 on every route
            #expect(RawHTTPConnection.status(head.head) == 200, "\(head.head)")
            #expect(head.body.isEmpty)
            #expect(!get.body.isEmpty)
            #expect(Self.header("Content-Length", in: head.head) == String(get.body.utf8.count))
            // A route that needs a token still needs one
            let refused = try await Self.exchange(
                "HEAD /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                port: port
            )
            #expect(RawHTTPConnection.status(refused.head) == 401)
            let allowed = try await Self.exchange(
                "HEAD /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(TestGateway.adminToken)\r\n"
                    + "Connection: close\r\n\r\n",
                port: port
            )
            #expect(RawHTTPConnection.status(allowed.head) == 200)
            #expect(allowed.body.isEmpty)
        }
    }

    @Test func anAllowedOriginsPreflightAndCallsAreAnsweredForItsBrowserAndAForeignOneGetsNothing() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = [Self.app]
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // A browser's preflight carries no token: it is answered (before: 401, counted as a failed login)
            let preflight = try await Self.exchange(
                "OPTIONS /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: \(Self.app)\r\n"
                    + "Access-Control-Request-Method: POST\r\n"
                    + "Access-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n",
                port: port
            )
            #expect(RawHTTPConnection.status(preflight.head) == 204, "\(preflight.head)")
            #expect(Self.header("Access-Control-Allow-Origin", in: preflight.head) == Self.app)
            #expect(Self.header("Access-Control-Allow-Methods", in: preflight.head)?.contains("POST") == true)
            #expect(Self.header("Access-Control-Allow-Headers", in: preflight.head)?.contains("Authorization") == true)
            #expect(Self.header("Allow", in: preflight.head) == "GET, HEAD, OPTIONS, POST")
            #expect(try await gateway.store.ledger.events(filter: EventFilter(type: "auth.failed")).isEmpty)
            // The call itself is answered with the origin named, and the session header exposed
            let call = try await Self.exchange(
                "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: \(Self.app)\r\n"
                    + "Authorization: Bearer \(TestGateway.adminToken)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                port: port
            )
            #expect(RawHTTPConnection.status(call.head) == 201, "\(call.head)")
            #expect(Self.header("Access-Control-Allow-Origin", in: call.head) == Self.app)
            #expect(Self.header("Vary", in: call.head) == "Origin")
            // A refusal too, so its page can read why
            let refusal = try await Self.exchange(
                "GET /api/sessions/nope HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: \(Self.app)\r\n"
                    + "Authorization: Bearer \(TestGateway.adminToken)\r\nConnection: close\r\n\r\n",
                port: port
            )
            #expect(RawHTTPConnection.status(refusal.head) == 404)
            #expect(Self.header("Access-Control-Allow-Origin", in: refusal.head) == Self.app)
            // A foreign origin's preflight names no origin (its browser stops there), and its call is refused
            let foreign = try await Self.exchange(
                "OPTIONS /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: https://evil.example\r\n"
                    + "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
                port: port
            )
            #expect(RawHTTPConnection.status(foreign.head) == 204)
            #expect(Self.header("Access-Control-Allow-Origin", in: foreign.head) == nil)
            let foreignCall = try await Self.exchange(
                "GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: https://evil.example\r\n"
                    + "Authorization: Bearer \(TestGateway.adminToken)\r\nConnection: close\r\n\r\n",
                port: port
            )
            #expect(RawHTTPConnection.status(foreignCall.head) == 403)
            #expect(Self.header("Access-Control-Allow-Origin", in: foreignCall.head) == nil)
            // OPTIONS on no route is 404
            let none = try await Self.exchange(
                "OPTIONS /api/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                port: port
            )
            #expect(RawHTTPConnection.status(none.head) == 404)
        }
    }
}
