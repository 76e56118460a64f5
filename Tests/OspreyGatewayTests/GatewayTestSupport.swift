import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting

/// A kernel on an in-memory store (or the one given) with one admin token, and the app around it.
struct TestGateway {
    static let adminToken = "osp_test_admin_token"
    let kernel: Kernel
    let directory: TemporaryDirectory

    /// A gateway whose default agent talks to `provider` (as `scripted/test`).
    init(
        config: OspreyConfig = OspreyConfig(),
        port: Int = 18470,
        provider: any ModelProvider = ScriptedProvider(messages: [.assistant("Hello!")]),
        redactor: Redactor = Redactor(),
        telemetry: Telemetry = Telemetry(),
        store: Store? = nil,
        prepare: (Home) throws -> Void = { _ in }
    ) async throws {
        directory = try TemporaryDirectory()
        try prepare(Home(root: directory.url))
        let given = store
        let store: Store
        if let given {
            store = given
        } else {
            store = try await Self.defaultStore(redactor: redactor, telemetry: telemetry)
        }
        try await store.tokens.registerHomeToken(Self.adminToken)
        var config = config
        // The live test client opens its one connection when the test starts, and some tests first use it after
        // waiting on the gateway's work; under the full suite's load that wait passed the 10 s header timeout (the
        // guard against slow clients, from a connection's opening to its first request head), the gateway closed
        // the connection, and the request failed with "I/O on closed channel". A test of that guard sets its own.
        if config.gateway.headerTimeoutSeconds == OspreyConfig().gateway.headerTimeoutSeconds {
            config.gateway.headerTimeoutSeconds = 120
        }
        if config.agents["default"] == nil {
            var agent = OspreyConfig.Agent()
            agent.model = "scripted/test"
            agent.tools = ["*"]
            config.agents["default"] = agent
        }
        let home = Home(root: directory.url)
        kernel = try await Kernel(
            home: home,
            config: config,
            store: store,
            providers: ["scripted": provider],
            port: port,
            telemetry: telemetry
        )
    }

    var store: Store { kernel.store }

    /// An in-memory SQLite store; or, with `OSPREY_TEST_STORE=postgres`, a database of its own on the test process's
    /// shared PostgreSQL server, so the whole gateway suite can be run on PostgreSQL too.
    static func defaultStore(redactor: Redactor, telemetry: Telemetry) async throws -> Store {
        guard ProcessInfo.processInfo.environment["OSPREY_TEST_STORE"] == "postgres" else {
            return try Store.inMemory(redactor: redactor, metrics: telemetry.factory)
        }
        return try await Store.open(
            postgres: try PostgresTarget(url: try await PostgresServer.sharedDatabase()),
            node: "test",
            ledgerKey: Array(repeating: 7, count: 32),
            redactor: redactor,
            metrics: telemetry.factory
        )
    }

    func app(port: Int = 0, logger: Logger = Logger(label: "test")) -> some ApplicationProtocol {
        buildApplication(kernel: kernel, host: "127.0.0.1", port: port, logger: logger)
    }

    /// The bearer token, and the JSON content type the gateway requires on every state-changing request.
    static func auth(_ token: String = adminToken) -> HTTPFields {
        [.authorization: "Bearer \(token)", .contentType: "application/json"]
    }

    static func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
}

extension TestClientProtocol {
    /// POSTs a JSON body with a bearer token (the admin's unless told) and returns the whole response.
    func post(_ uri: String, _ body: String = "{}", token: String = TestGateway.adminToken) async throws -> TestResponse
    {
        try await execute(uri: uri, method: .post, headers: TestGateway.auth(token), body: TestGateway.json(body)) {
            $0
        }
    }
}

extension TestResponse {
    /// The body parsed as JSON (null when empty).
    var json: JSONValue {
        body.readableBytes == 0
            ? .null : ((try? JSONValue.parse(body.readableBytesView)) ?? .string(String(buffer: body)))
    }

    var errorCode: String? { json["error"]?["code"]?.stringValue }
}

extension OspreyConfig {
    /// Makes the default agent talk to the scripted provider (`scripted/test`) with these tools and, when given, this
    /// approval mode.
    mutating func scriptedAgent(tools: [String], approval: String? = nil) {
        var agent = OspreyConfig.Agent()
        agent.model = "scripted/test"
        agent.tools = tools
        if let approval { agent.approval = approval }
        agents["default"] = agent
    }
}
