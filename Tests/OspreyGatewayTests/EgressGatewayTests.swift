import Foundation
import HTTPTypes
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// The egress proxy as an agent reaches it: `command_network` in its config, `run_command` through the gateway.
struct EgressGatewayTests {
    @Test func anAgentsCommandsReachItsNetworkHostsThroughTheGatewaysProxyAndTheLedgerSaysSo() async throws {
        let server = ScriptedHTTPServer(responses: [], fallback: .init(chunks: ["answer from the allowed host\n"]))
        try await server.run { server in
            var config = OspreyConfig()
            config.scriptedAgent(tools: ["run_command"], approval: "autonomous")
            config.agents["default"]?.networkHosts = ["localhost"]
            config.agents["default"]?.privateAddresses = ["127.0.0.1", "::1"]
            config.agents["default"]?.commandNetwork = true
            let command =
                "curl -sS http://localhost:\(server.port)/via-proxy; curl -sS -o /dev/null "
                + "-w 'elsewhere %{http_code}' http://example.invalid/"
            let arguments = JSONValue.object(["command": .string(command)]).canonicalJSON
            let provider = ScriptedProvider(messages: [
                .toolCall("run_command", arguments, id: "call_1"), .assistant("done"),
            ])
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.router) { client in
                let session = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
                let response = try await client.post("/api/sessions/\(session.id)/messages", #"{"content":"go"}"#)
                #expect(response.status == .ok, "\(response.json)")
            }
            let events = try await gateway.store.ledger.events(limit: 500)
            let output = events.first { $0.type == .toolCallCompleted }?.payload["output"]?.stringValue ?? ""
            #expect(output.contains("answer from the allowed host"), "\(output)")
            #expect(output.contains("elsewhere 403"), "\(output)")
            #expect(server.requests.map(\.path) == ["/via-proxy"])
            let egress = events.filter { $0.type == .egressConnection }
            #expect(egress.map { $0.payload["allowed"] } == [true, false], "\(egress.map(\.payload))")
            #expect(egress.allSatisfy { $0.payload["agent"] == "default" && $0.session == events.first?.session })
        }
    }
}
