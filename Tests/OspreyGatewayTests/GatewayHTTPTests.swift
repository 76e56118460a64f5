import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

struct GatewayHTTPTests {
    @Test func healthIsOpenAndEveryAPIRouteNeedsAToken() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.json["status"] == "ok")
            }
            for (method, uri) in [
                (HTTPRequest.Method.get, "/api/status"), (.get, "/api/sessions"), (.post, "/api/sessions"),
                (.get, "/api/events"), (.get, "/api/audit/verify"), (.delete, "/api/sessions/x"),
                (.get, "/api/nothing-here"),
            ] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .unauthorized, "\(method) \(uri)")
                    #expect(response.errorCode == "unauthorized")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                }
            }
        }
    }

    @Test func missingAndWrongTokensAreRefusedAndLedgered() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            try await client.execute(uri: "/api/sessions", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/sessions", method: .get, headers: TestGateway.auth("osp_wrong")) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/api/sessions", method: .get, headers: [.authorization: "Basic abc"]) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/api/sessions", method: .get, headers: TestGateway.auth()) {
                #expect($0.status == .ok)
            }
        }
        let failures = try await gateway.store.ledger.events(filter: EventFilter(type: "auth.failed"))
        #expect(failures.map { $0.payload["reason"] } == ["missing", "invalid", "missing"])
        #expect(failures.allSatisfy { $0.payload.canonicalJSON.contains("osp_wrong") == false })
    }

    @Test func aTokenRevokedLaterIsRefusedAtOnce() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            let created = try await client.post("/api/tokens", #"{"name":"ci","role":"operator"}"#)
            #expect(created.status == .created)
            let token = try #require(created.json["token"]?.stringValue)
            let id = try #require(created.json["id"]?.stringValue)
            try await client.execute(uri: "/api/sessions", method: .post, headers: TestGateway.auth(token)) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/api/tokens/\(id)", method: .delete, headers: TestGateway.auth()) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/api/sessions", method: .get, headers: TestGateway.auth(token)) {
                #expect($0.status == .unauthorized)
            }
        }
        let types = try await gateway.store.ledger.events().map(\.type.rawValue)
        #expect(types == ["token.created", "session.created", "token.revoked", "auth.failed"])
    }

    @Test func rolesLimitWhatATokenMayDo() async throws {
        let gateway = try await TestGateway()
        let (_, viewer) = try await gateway.store.tokens.create(name: "v", role: .viewer, actor: .test)
        let (_, op) = try await gateway.store.tokens.create(name: "o", role: .operator, actor: .test)
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.router) { client in
            try await client.execute(uri: "/api/sessions", method: .get, headers: TestGateway.auth(viewer)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/api/sessions", method: .post, headers: TestGateway.auth(viewer)) {
                #expect($0.status == .forbidden)
                #expect($0.errorCode == "forbidden")
            }
            try await client.execute(uri: "/api/tokens", method: .get, headers: TestGateway.auth(op)) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/api/tokens", method: .get, headers: TestGateway.auth()) {
                #expect($0.status == .ok)
            }
        }
    }

    @Test func repeatedFailuresLockTheAddressOutEvenOnLoopback() async throws {
        var config = OspreyConfig()
        config.auth.maxFailures = 3
        config.auth.lockoutSeconds = 60
        let gateway = try await TestGateway(config: config)
        try await gateway.app().test(.live) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/api/status", method: .get, headers: TestGateway.auth("osp_guess")) {
                    #expect($0.status == .unauthorized)
                }
            }
            // Locked out now: even the right token waits.
            try await client.execute(uri: "/api/status", method: .get, headers: TestGateway.auth()) { response in
                #expect(response.status == .tooManyRequests)
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 > 0)
            }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
        let failures = try await gateway.store.ledger.events(filter: EventFilter(type: "auth.failed"))
        #expect(failures.count == 3)
        #expect(failures.last?.payload["locked_out_seconds"] == 60)
        #expect(failures.allSatisfy { $0.payload["address"] == "127.0.0.1" })
    }

    @Test func sessionsCanBeCreatedListedShownMessagedAndDeleted() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            let created = try await client.post("/api/sessions", #"{"title":"Demo"}"#)
            #expect(created.status == .created)
            let id = try #require(created.json["id"]?.stringValue)
            #expect(created.json["agent"] == "default")
            try await client.execute(
                uri: "/api/sessions/\(id)/messages",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(#"{"content":"Hi"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.json["response"] == "Hello!")
                #expect(response.json["session_id"]?.stringValue == id)
                #expect(response.json["tokens"] == 15)
                #expect(response.json["exit_code"] == 0)
            }
            try await client.execute(uri: "/api/sessions/\(id)/messages", method: .get, headers: TestGateway.auth()) {
                response in
                let roles = response.json["messages"]?.arrayValue?.compactMap { $0["message"]?["role"]?.stringValue }
                #expect(roles == ["user", "assistant"])
            }
            try await client.execute(uri: "/api/sessions", method: .get, headers: TestGateway.auth()) { response in
                #expect(response.json["sessions"]?.arrayValue?.first?["message_count"] == 2)
            }
            try await client.execute(uri: "/api/sessions/\(id)", method: .delete, headers: TestGateway.auth()) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/api/sessions/\(id)", method: .get, headers: TestGateway.auth()) {
                response in
                #expect(response.status == .notFound)
                #expect(response.errorCode == "not_found")
            }
        }
        #expect(try await gateway.store.ledger.verify().ok)
    }

    @Test func sendingWithAnEventStreamAcceptHeaderStreamsTheRun() async throws {
        let gateway = try await TestGateway()
        let session = try await gateway.store.sessions.create(actor: .test)
        try await gateway.app().test(.router) { client in
            var headers = TestGateway.auth()
            headers[.accept] = "text/event-stream"
            try await client.execute(
                uri: "/api/sessions/\(session.id)/messages",
                method: .post,
                headers: headers,
                body: TestGateway.json(#"{"content":"Hi"}"#)
            ) { response in
                #expect(response.headers[.contentType] == "text/event-stream")
                var parser = ServerSentEventParser()
                let events = parser.feed(response.body.readableBytesView)
                #expect(events.map(\.event) == ["text_delta", "message", "done"])
                #expect((try? JSONValue.parse(events[2].data))?["response"] == "Hello!")
            }
        }
    }

    struct BadRequest: Sendable, CustomTestStringConvertible {
        var method: HTTPRequest.Method
        var uri: String
        var body: String?
        var status: HTTPResponse.Status
        var code: String
        var testDescription: String { "\(method) \(uri) \(body ?? "") -> \(status.code)" }
    }

    @Test(arguments: [
        BadRequest(method: .post, uri: "/api/sessions", body: "{not json", status: .badRequest, code: "malformed_json"),
        BadRequest(method: .post, uri: "/api/sessions", body: "[1,2]", status: .badRequest, code: "invalid_request"),
        BadRequest(
            method: .post,
            uri: "/api/sessions",
            body: #"{"title":"a","title":"b"}"#,
            status: .badRequest,
            code: "malformed_json"
        ),
        BadRequest(
            method: .post,
            uri: "/api/sessions",
            body: #"{"titel":"typo"}"#,
            status: .badRequest,
            code: "invalid_request"
        ),
        BadRequest(
            method: .post,
            uri: "/api/sessions",
            body: #"{"title":5}"#,
            status: .badRequest,
            code: "invalid_request"
        ),
        BadRequest(
            method: .post,
            uri: "/api/sessions",
            body: #"{"agent":"../etc"}"#,
            status: .badRequest,
            code: "invalid_request"
        ),
        BadRequest(
            method: .post,
            uri: "/api/sessions/ses_unknown/messages",
            body: #"{"content":"x"}"#,
            status: .notFound,
            code: "not_found"
        ),
        BadRequest(
            method: .post,
            uri: "/api/sessions/SESSION/messages",
            body: #"{"content":"   "}"#,
            status: .badRequest,
            code: "invalid_request"
        ),
        BadRequest(
            method: .post,
            uri: "/api/sessions/SESSION/messages",
            body: #"{}"#,
            status: .badRequest,
            code: "invalid_request"
        ),
        BadRequest(method: .get, uri: "/api/sessions/ses_unknown", body: nil, status: .notFound, code: "not_found"),
        BadRequest(method: .delete, uri: "/api/sessions/ses_unknown", body: nil, status: .notFound, code: "not_found"),
        BadRequest(method: .delete, uri: "/api/tokens/tok_unknown", body: nil, status: .notFound, code: "not_found"),
        BadRequest(method: .get, uri: "/api/no/such/route", body: nil, status: .notFound, code: "not_found"),
        BadRequest(
            method: .put,
            uri: "/api/sessions",
            body: nil,
            status: .methodNotAllowed,
            code: "method_not_allowed"
        ),
        BadRequest(
            method: .patch,
            uri: "/api/sessions/SESSION",
            body: nil,
            status: .methodNotAllowed,
            code: "method_not_allowed"
        ),
        BadRequest(method: .post, uri: "/api/events", body: nil, status: .methodNotAllowed, code: "method_not_allowed"),
        BadRequest(method: .get, uri: "/api/events?after=-1", body: nil, status: .badRequest, code: "invalid_request"),
        BadRequest(method: .get, uri: "/api/events?limit=abc", body: nil, status: .badRequest, code: "invalid_request"),
        BadRequest(method: .get, uri: "/api/sessions?limit=0", body: nil, status: .badRequest, code: "invalid_request"),
    ])
    func badInputGetsAClearErrorAndChangesNothing(_ bad: BadRequest) async throws {
        let gateway = try await TestGateway()
        let session = try await gateway.store.sessions.create(actor: .test)
        let before = try await gateway.store.ledger.lastSeq()
        try await gateway.app().test(.router) { client in
            try await client.execute(
                uri: bad.uri.replacingOccurrences(of: "SESSION", with: session.id.rawValue),
                method: bad.method,
                headers: TestGateway.auth(),
                body: bad.body.map(TestGateway.json)
            ) { response in
                #expect(response.status == bad.status)
                #expect(response.errorCode == bad.code)
                #expect(response.json["error"]?["message"]?.stringValue?.isEmpty == false)
                if bad.status == .methodNotAllowed { #expect(response.headers[.allow] != nil) }
            }
        }
        #expect(try await gateway.store.ledger.lastSeq() == before)
        #expect(try await gateway.store.sessions.messages(of: session.id).isEmpty)
        #expect(try await gateway.store.sessions.count() == 1)
    }

    @Test func anOversizedBodyGets413BeforeItIsRead() async throws {
        var config = OspreyConfig()
        config.gateway.maxBodyBytes = 1024
        let gateway = try await TestGateway(config: config)
        let big = "{\"title\":\"" + String(repeating: "x", count: 5000) + "\"}"
        try await gateway.app().test(.live) { client in
            try await client.execute(
                uri: "/api/sessions",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(big)
            ) {
                #expect($0.status == .contentTooLarge)
                #expect($0.errorCode == "payload_too_large")
            }
            // The daemon is fine afterwards.
            try await client.execute(
                uri: "/api/sessions",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json("{}")
            ) {
                #expect($0.status == .created)
            }
        }
        #expect(try await gateway.store.sessions.count() == 1)
    }

    @Test func eventsCanBeFilteredAndPaged() async throws {
        let gateway = try await TestGateway()
        let first = try await gateway.store.sessions.create(actor: .test)
        _ = try await gateway.store.sessions.create(actor: .test)
        try await gateway.store.sessions.append(.user("a"), to: first.id, actor: .test)
        try await gateway.app().test(.router) { client in
            try await client.execute(
                uri: "/api/events?type=session.created&limit=1",
                method: .get,
                headers: TestGateway.auth()
            ) { response in
                #expect(response.json["events"]?.arrayValue?.map { $0["seq"] } == [1])
                #expect(response.json["next_after"] == 1)
            }
            try await client.execute(
                uri: "/api/events?after=1&type=session.created",
                method: .get,
                headers: TestGateway.auth()
            ) { response in
                #expect(response.json["events"]?.arrayValue?.map { $0["seq"] } == [2])
            }
            try await client.execute(uri: "/api/events?session=\(first.id)", method: .get, headers: TestGateway.auth())
            { response in
                #expect(response.json["events"]?.arrayValue?.map { $0["type"] } == ["session.created", "message.user"])
            }
            try await client.execute(uri: "/api/audit/verify", method: .get, headers: TestGateway.auth()) { response in
                #expect(response.json["ok"] == true)
                #expect(response.json["count"] == 3)
                #expect(response.json["first_bad_seq"] == .null)
            }
        }
    }
}
