import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// `osprey mcp serve` against a real gateway process, driven by the official Python MCP SDK's client and by raw lines.
@Suite(.serialized)
struct MCPServeTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    /// Runs `body` with a running gateway on a fresh home whose default agent answers from the mock model.
    func withGateway(_ body: @escaping @Sendable (TemporaryDirectory) async throws -> Void) async throws {
        try await CLITests.ownMockModel().run { server in
            let home = try TemporaryDirectory(prefix: "osprey-mcp-serve")
            defer { home.remove() }
            try CLITests.configure(home, server: server)
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            try await body(home)
        }
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/mcp")

    @Test(.timeLimit(.minutes(2))) func theOfficialPythonClientAsksAnAgentAndUsesMemoryThroughTheGateway()
        async throws
    {
        try await withGateway { home in
            let result = try await runPython([
                Self.fixtures.appendingPathComponent("host_client.py").path, "stdio", osprey.path, home.path,
            ])
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            let seen = try JSONValue.parse(result.stdout.split(separator: "\n").last.map(String.init) ?? "")
            #expect(seen["server"] == "osprey")
            #expect(seen["protocol"] == "2025-06-18")
            // The catalog, then the default agent's own tools (not the ones the catalog already names).
            let tools = seen["tools"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(
                Set(tools).isSuperset(of: [
                    "ask_agent", "cancel_task", "check_task", "list_approvals", "search_memory", "store_memory",
                    "submit_task", "read_file", "write_file", "run_command", "list_dir",
                ])
            )
            #expect(tools.count == Set(tools).count)
            #expect(seen["answer"] == "Hello from the mock.")
            #expect(seen["first_error"] == false)
            #expect(MCPHostReport.problems(seen) == [])
            // What the host did is in the ledger, through the gateway's API like any client's.
            let events = try await osprey.run(["events", "--home", home.path, "--limit", "200"])
            #expect(events.stdout.contains("memory.stored"))
        }
    }

    @Test(.timeLimit(.minutes(3))) func malformedAndOutOfOrderMessagesGetTheSpecifiedErrors() async throws {
        try await withGateway { home in
            let input =
                [
                    #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                    #"{not json"#,
                    #"[{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
                    #"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{}}}"#,
                    #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                    #"{"jsonrpc":"2.0","id":4,"method":"completion/complete"}"#,
                    #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"check_task","arguments":"x"}}"#,
                    #"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                    #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"check_task","arguments":{"id":""#
                        + String(repeating: "x", count: 5 << 20) + #""}}}"#,
                    #"{"jsonrpc":"2.0","id":6,"method":"ping"}"#,
                ].joined(separator: "\n") + "\n"
            let result = try await osprey.run(["mcp", "serve", "--home", home.path], input: input)
            #expect(result.status == 0, "\(result.stderr)")
            let answers = try result.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
            func answer(_ id: JSONValue) -> JSONValue? { answers.first { $0["id"] == id } }
            #expect(answer(1)?["error"]?["code"] == -32600, "\(answers)")  // before initialize
            let nulls = answers.filter { $0["id"] == .null }.compactMap { $0["error"]?["code"]?.intValue }
            // not JSON, a batch, an object id, a line over the body limit (refused before it is read whole)
            #expect(nulls.sorted() == [-32700, -32600, -32600, -32600].sorted())
            #expect(answer(7) == nil)
            #expect(answer(3)?["result"]?["protocolVersion"] == "2025-06-18")
            #expect(answer(4)?["error"]?["code"] == -32601)
            #expect(answer(5)?["error"]?["code"] == -32602)
            #expect(answer(6)?["result"] == .object([:]))
        }
    }

    @Test(.timeLimit(.minutes(3))) func theBridgeUsesTheHomesSocketAndFallsBackToHTTPWithoutIt() async throws {
        try await withGateway { home in
            let socket = URL(fileURLWithPath: home.path).appendingPathComponent("mcp.sock")
            // The door opens beside the HTTP server, maybe just after the gateway said it listens.
            try await TestRuns.waitUntil { Home.mode(of: socket) != nil }
            // Only the home's owner may connect to the socket, from the moment it is there.
            #expect(Home.mode(of: socket) == 0o600)
            let input =
                [
                    #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
                    #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                    #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"store_memory","arguments":{"content":"bridged by socket"}}}"#,
                ].joined(separator: "\n") + "\n"
            let viaSocket = try await osprey.run(["mcp", "serve", "--home", home.path], input: input)
            #expect(viaSocket.status == 0, "\(viaSocket.stderr)")
            let answers = try viaSocket.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
            #expect(answers.first { $0["id"] == 2 }?["result"]?["isError"] == false, "\(answers)")
            // A wrong token is refused at the first line, with the reason, and counted as a failed authentication.
            let refused = try await osprey.run(
                ["mcp", "serve", "--home", home.path],
                input: input,
                environment: ["OSPREY_TOKEN": "osp_not_a_token"]
            )
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("Invalid, expired or revoked token"), "\(refused.stderr)")
            #expect(refused.stdout.isEmpty)
            // Without the socket (an older gateway, a home path too long for one), the same through /mcp.
            try FileManager.default.removeItem(at: socket)
            let viaHTTP = try await osprey.run(["mcp", "serve", "--home", home.path], input: input)
            #expect(viaHTTP.status == 0, "\(viaHTTP.stderr)")
            #expect(viaHTTP.stdout.contains(#""isError":false"#), "\(viaHTTP.stdout)")
            // Each session acted as the home's token through its own MCP door, and the refusal is on record.
            let events = try await osprey.run(["events", "--home", home.path, "--limit", "500", "--json"])
            let stored = events.stdout.split(separator: "\n").filter { $0.contains("memory.stored") }
            #expect(stored.count == 2, "\(events.stdout.suffix(3000))")
            #expect(stored.allSatisfy { $0.contains("/mcp:mcp_") })
            #expect(events.stdout.contains("auth.failed"))
        }
    }

    @Test func withoutAGatewayItRefusesToStartWithAClearMessage() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-mcp-serve")
        defer { home.remove() }
        let result = try await osprey.run(["mcp", "serve", "--home", home.path], input: "")
        #expect(result.status == 1)
        #expect(result.stderr.contains("the gateway is not running"))
        #expect(result.stdout.isEmpty)
    }
}
