import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// `/api/tools`: an agent's own tools, listed and called outside a run, through the same check point.
struct ToolsAPITests {
    @Test func toolsAreListedAndCalledAsTheAgentUnderItsPolicyAndRecorded() async throws {
        var config = OspreyConfig()
        var helper = OspreyConfig.Agent()
        helper.tools = ["read_file", "list_dir"]
        config.agents["helper"] = helper
        let gateway = try await TestGateway(config: config)
        let workspace = gateway.kernel.runtime.workspace.root
        try "heron\n".write(to: workspace.appendingPathComponent("bird.txt"), atomically: true, encoding: .utf8)
        let (_, viewer) = try await gateway.store.tokens.create(name: "v", role: .viewer, actor: .test)
        let (_, bound) = try await gateway.store.tokens.create(
            name: "b",
            role: .operator,
            agent: "helper",
            actor: .test
        )
        try await gateway.kernel.refreshTokens()
        try await gateway.app().test(.router) { client in
            try await client.execute(uri: "/api/tools?agent=helper", method: .get, headers: TestGateway.auth()) {
                #expect($0.status == .ok)
                #expect(
                    $0.json["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["read_file", "list_dir"]
                )
            }
            let read = try await client.post(
                "/api/tools/call",
                #"{"agent":"helper","name":"read_file","arguments":{"path":"bird.txt"}}"#
            )
            #expect(read.status == .ok)
            #expect(read.json["output"]?.stringValue?.contains("heron") == true && read.json["is_error"] == false)
            // The workspace jail holds, a tool the agent lacks is 404, bad fields are 400, a viewer may not act,
            // and a token bound to an agent reaches no other's tools.
            let escape = try await client.post(
                "/api/tools/call",
                #"{"agent":"helper","name":"read_file","arguments":{"path":"../../etc/passwd"}}"#
            )
            #expect(escape.json["is_error"] == true)
            let missing = try await client.post(
                "/api/tools/call",
                #"{"agent":"helper","name":"run_command","arguments":{"command":"id"}}"#
            )
            #expect(missing.status == .notFound)
            let bad = try await client.post(
                "/api/tools/call",
                #"{"agent":"helper","name":"read_file","arguments":[1]}"#
            )
            #expect(bad.status == .badRequest)
            let asViewer = try await client.post(
                "/api/tools/call",
                #"{"agent":"helper","name":"list_dir"}"#,
                token: viewer
            )
            #expect(asViewer.status == .forbidden)
            let other = try await client.post(
                "/api/tools/call",
                #"{"agent":"default","name":"list_dir"}"#,
                token: bound
            )
            #expect(other.status == .forbidden)
            let own = try await client.post("/api/tools/call", #"{"name":"list_dir"}"#, token: bound)
            #expect(own.status == .ok && own.json["output"]?.stringValue?.contains("bird.txt") == true)
        }
        // Each call is in the ledger with its policy decision and its outcome.
        let outcomes = try await gateway.store.ledger.events(limit: 500).filter {
            $0.type == .toolCallCompleted || $0.type == .toolCallFailed
        }
        #expect(outcomes.count == 3)  // read, escape (failed), and the bound token's list_dir
        let decisions = try await gateway.store.ledger.events(limit: 500).filter { $0.type == .policyDecision }
        #expect(decisions.count == 3)
    }
}
