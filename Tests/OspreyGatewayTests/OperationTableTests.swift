import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// REST and the WebSocket bind one operation table: the same call is refused the same way through either door.
struct OperationTableTests {
    /// Sends each request frame over one WebSocket with `token`, each after the previous answer; returns the answers.
    static func ask(port: Int, token: String, _ frames: [String]) async throws -> [JSONValue] {
        let collected = Collected()
        try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/api/ws",
            configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)"]),
            logger: Logger(label: "ws-test")
        ) { inbound, outbound, _ in
            var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            for frame in frames {
                try await outbound.write(.text(frame))
                while let message = try await iterator.next() {
                    guard case .text(let text) = message else { continue }
                    let reply = try JSONValue.parse(text)
                    if reply["type"] == "res" {
                        collected.append(reply)
                        break
                    }
                }
            }
        }
        return collected.frames
    }

    @Test func bothDoorsRefuseTheSameCallsWithTheSameCodes() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        let (_, viewer) = try await gateway.store.tokens.create(name: "viewer", role: .viewer, actor: .test)
        let (_, scoped) = try await gateway.store.tokens.create(
            name: "events-only",
            role: .operator,
            // `ws` opens the socket; `events` is the one group it may call.
            scopes: ["events", "ws"],
            actor: .test
        )
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // Given a viewer creating a session, a misspelt field and an out-of-range limit, through REST
            var rest: [String?] = []
            try await client.execute(
                uri: "/api/sessions",
                method: .post,
                headers: TestGateway.auth(viewer),
                body: TestGateway.json(#"{"title":"x"}"#)
            ) { rest.append($0.errorCode) }
            try await client.execute(
                uri: "/api/sessions",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(#"{"titel":"x"}"#)
            ) { rest.append($0.errorCode) }
            try await client.execute(uri: "/api/sessions?limit=0", method: .get, headers: TestGateway.auth(viewer)) {
                rest.append($0.errorCode)
            }
            try await client.execute(uri: "/api/sessions", method: .get, headers: TestGateway.auth(scoped)) {
                rest.append($0.errorCode)
            }
            // When the same calls come over the WebSocket
            let viewerReplies = try await Self.ask(
                port: port,
                token: viewer,
                [
                    #"{"type":"req","id":1,"method":"sessions.create","params":{"title":"x"}}"#,
                    #"{"type":"req","id":2,"method":"sessions.list","params":{"limt":5}}"#,
                    #"{"type":"req","id":3,"method":"sessions.list","params":{"limit":0}}"#,
                ]
            )
            let scopedReplies = try await Self.ask(
                port: port,
                token: scoped,
                [
                    #"{"type":"req","id":1,"method":"sessions.list"}"#,
                    #"{"type":"req","id":2,"method":"events.list","params":{"limit":1}}"#,
                ]
            )
            // Then both doors answer with the same codes
            #expect(rest == ["forbidden", "invalid_request", "invalid_request", "out_of_scope"])
            let socket = (viewerReplies + scopedReplies.prefix(1)).map { $0["error"]?["code"]?.stringValue }
            #expect(socket == rest)
            #expect(scopedReplies.last?["ok"] == true)
            #expect(scopedReplies.last?["payload"]?.arrayValue != nil)
        }
    }

    @Test func aSessionsIDIsTakenAsIDOrSessionOverTheWebSocket() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        let session = try await gateway.store.sessions.create(actor: .user("test"))
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let replies = try await Self.ask(
                port: port,
                token: TestGateway.adminToken,
                [
                    #"{"type":"req","id":1,"method":"sessions.get","params":{"id":"\#(session.id)"}}"#,
                    #"{"type":"req","id":2,"method":"sessions.messages","params":{"session":"\#(session.id)"}}"#,
                    #"{"type":"req","id":3,"method":"sessions.delete","params":{"session":"\#(session.id)"}}"#,
                ]
            )
            #expect(replies.map { $0["ok"] } == [true, true, true])
            #expect(replies[0]["payload"]?["id"]?.stringValue == session.id.rawValue)
            #expect(replies[1]["payload"] == [])
            #expect(replies[2]["payload"] == ["deleted": true])
        }
        #expect(try await gateway.store.sessions.list().isEmpty)
    }

    @Test func subscribingNeedsTheEventsScopeAsTheEventStreamDoes() async throws {
        var config = OspreyConfig()
        config.gateway.allowedOrigins = ["ws://127.0.0.1"]
        let gateway = try await TestGateway(config: config)
        let (_, socketOnly) = try await gateway.store.tokens.create(
            name: "socket-only",
            role: .viewer,
            scopes: ["ws"],
            actor: .test
        )
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            try await client.execute(uri: "/api/events/stream", method: .get, headers: TestGateway.auth(socketOnly)) {
                #expect($0.errorCode == "out_of_scope")
            }
            let refused = try await Self.ask(
                port: port,
                token: socketOnly,
                [#"{"type":"req","id":1,"method":"subscribe","params":{"after":0}}"#]
            )
            let admin = try await Self.ask(
                port: port,
                token: TestGateway.adminToken,
                [
                    #"{"type":"req","id":1,"method":"subscribe","params":{"afterr":0}}"#,
                    #"{"type":"req","id":2,"method":"subscribe","params":{"after":0}}"#,
                ]
            )
            #expect(refused.map { $0["error"]?["code"]?.stringValue } == ["out_of_scope"])
            #expect(admin.map { $0["error"]?["code"]?.stringValue } == ["invalid_request", nil])
            #expect(admin.last?["payload"] == ["subscribed": true, "after": 0])
        }
    }
}
