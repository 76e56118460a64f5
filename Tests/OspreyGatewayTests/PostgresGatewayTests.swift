import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// Gateways whose `[store]` is one PostgreSQL database: what one of them does through the API, the other reads.
struct PostgresGatewayTests {
    @Test func twoGatewaysOnOnePostgreSQLDatabaseShareSessionsMessagesAndTheLedger() async throws {
        let server = try await PostgresServer()
        do {
            let config = try OspreyConfig(
                toml: """
                    [store]
                    backend = "postgres"
                    url = "\(server.url())"
                    """
            )
            #expect(config.store.backend == .postgres)
            let directory = try TemporaryDirectory()
            let home = Home(root: directory.url)
            try home.bootstrap()
            var stores: [Store] = []
            for node in ["a", "b"] {
                var named = config
                named.store.node = node
                stores.append(
                    try await Kernel.openStore(home: home, config: named, durability: .full, telemetry: Telemetry())
                )
            }
            #expect(stores.map(\.dialect) == [.postgres, .postgres])
            let a = try await TestGateway(config: config, store: stores[0])
            let b = try await TestGateway(config: config, store: stores[1])
            let session = try await a.app().test(.router) { client in
                let created = try await client.post("/api/sessions", #"{"title":"shared"}"#)
                #expect(created.status == .created)
                let session = try #require(created.json["id"]?.stringValue)
                let sent = try await client.post("/api/sessions/\(session)/messages", #"{"content":"hello"}"#)
                #expect(sent.status == .ok)
                return session
            }
            try await b.app().test(.router) { client in
                try await client.execute(
                    uri: "/api/sessions/\(session)/messages",
                    method: .get,
                    headers: TestGateway.auth()
                ) { response in
                    #expect(response.status == .ok)
                    let texts = response.json["messages"]?.arrayValue?.compactMap {
                        $0["message"]?["content"]?.arrayValue?.first?["text"]?.stringValue
                    }
                    #expect(texts == ["hello", "Hello!"])
                }
                try await client.execute(uri: "/api/audit/verify", method: .get, headers: TestGateway.auth()) {
                    #expect($0.status == .ok)
                    #expect($0.json["ok"] == true)
                    #expect(($0.json["count"]?.intValue ?? 0) >= 4)
                }
                // A backup copies the home's SQLite file, which this store does not have: refused, with the reason
                let backup = try await client.post("/api/backups")
                #expect(backup.status == .conflict)
                #expect(backup.json["error"]?["message"]?.stringValue?.contains("pg_dump") == true)
            }
            for store in stores { store.close() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func aPostgresStoreNeedsAURLWithoutAPasswordAndAPasswordByReference() throws {
        #expect(throws: ConfigError.self) { try OspreyConfig(toml: "[store]\nbackend = \"postgres\"") }
        #expect(throws: ConfigError.self) {
            try OspreyConfig(toml: "[store]\nbackend = \"postgres\"\nurl = \"postgres://u:secret@db/osprey\"")
        }
        #expect(throws: ConfigError.self) {
            try OspreyConfig(
                toml: "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@db/osprey\"\npassword = \"x\""
            )
        }
        #expect(throws: ConfigError.self) { try OspreyConfig(toml: "[store]\nbackend = \"mysql\"") }
        #expect(throws: ConfigError.self) { try OspreyConfig(toml: "[store]\nurl = \"postgres://u@db/osprey\"") }
        let config = try OspreyConfig(
            toml:
                "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@db/osprey\"\npassword = \"${secret:db}\"\nnode = \"n1\""
        )
        #expect(config.store.password == "${secret:db}" && config.store.node == "n1")
    }
}
