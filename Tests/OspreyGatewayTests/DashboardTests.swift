import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// The dashboard's files and headers, and the single-use WebSocket ticket a browser opens the socket with.
struct DashboardTests {
    /// `POST /api/ws/ticket` with `token`: the answer.
    static func ticket(port: Int, token: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/ws/ticket")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: "{}"))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        return try JSONValue.parse(String(buffer: try await response.body.collect(upTo: 1 << 16)))
    }

    @Test func theDashboardIsServedWithAStrictContentSecurityPolicy() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let policy = response.headers[.contentSecurityPolicy] ?? ""
                #expect(policy.contains("default-src 'self'") && policy.contains("script-src 'self';"))
                #expect(policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe"))
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                let html = String(buffer: response.body)
                // No inline script: every script is a module from the gateway.
                #expect(html.contains(#"<script type="module" src="/ui/app.js"></script>"#))
                #expect(html.components(separatedBy: "<script").count == 2)
            }
            try await client.execute(uri: "/ui/app.js", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/javascript; charset=utf-8")
            }
            try await client.execute(uri: "/ui/no-such.js", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/ui/../token", method: .get) { #expect($0.status != .ok) }
        }
    }

    @Test func aTicketOpensTheWebSocketOnceAndNothingElse() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let answer = try await Self.ticket(port: port, token: TestGateway.adminToken)
            let ticket = try #require(answer["ticket"]?.stringValue)
            #expect(answer["expires_in"] == 30)
            // The ticket opens the socket without an Authorization header, and the socket works.
            let pong = Collected()
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/api/ws?ticket=\(ticket)",
                logger: Logger(label: "ws-ticket")
            ) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"type":"req","id":1,"method":"ping"}"#))
                for try await message in inbound.messages(maxSize: 1 << 16) {
                    if case .text(let text) = message { pong.append(try JSONValue.parse(text)) }
                    break
                }
            }
            #expect(pong.frames.first?["ok"] == true, "\(pong.frames)")
            // Used once, it is gone; an unknown one is refused; a ticket is not a token anywhere else.
            #expect(
                try await LiveGatewayTests.upgradeStatus(port: port, headers: [:], query: "?ticket=\(ticket)") == 401
            )
            #expect(
                try await LiveGatewayTests.upgradeStatus(port: port, headers: [:], query: "?ticket=wst_forged") == 401
            )
            let unused = try #require(
                try await Self.ticket(port: port, token: TestGateway.adminToken)["ticket"]?.stringValue
            )
            let status = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/status?ticket=\(unused)"),
                timeout: .seconds(60)
            )
            #expect(status.status.code == 401)
        }
    }

    @Test func aTicketDiesWithItsToken() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        let (record, token) = try await gateway.store.tokens.create(name: "dash", role: .viewer, actor: .test)
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let ticket = try #require(try await Self.ticket(port: port, token: token)["ticket"]?.stringValue)
            // Revoked before it is used: the ticket opens nothing.
            try await gateway.store.tokens.revoke(record.id, actor: .user("admin"))
            try await gateway.kernel.refreshTokens()
            #expect(
                try await LiveGatewayTests.upgradeStatus(port: port, headers: [:], query: "?ticket=\(ticket)") == 401
            )
        }
    }
}
