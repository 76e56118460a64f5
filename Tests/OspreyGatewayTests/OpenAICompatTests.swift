import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// The OpenAI-compatible door, driven by the official `openai` Python SDK and by curl, against a scripted agent.
struct OpenAICompatTests {
    static let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/openai/client.py").path

    /// Runs curl with `arguments`; its output (headers and body with `-i`).
    static func curl(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["curl", "-s", "-N", "--max-time", "30"] + arguments
                let out = Pipe()
                process.standardOutput = out
                do {
                    try process.run()
                } catch {
                    return continuation.resume(throwing: error)
                }
                let data = out.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }

    @Test func parametersOfTheWrongTypeOrOutOfRangeAreRefusedNotIgnored() async throws {
        let gateway = try await TestGateway()
        let messages = #""messages":[{"role":"user","content":"hi"}]"#
        let cases = [
            #""stream":"yes""#, #""max_tokens":-1"#, #""max_tokens":1.5"#, #""temperature":-5"#, #""top_p":"high""#,
            #""n":"two""#, #""stream_options":{"include_usage":"yes"}"#, #""presence_penalty":3"#,
        ]
        try await gateway.app().test(.router) { client in
            for field in cases {
                try await client.execute(
                    uri: "/v1/chat/completions",
                    method: .post,
                    headers: TestGateway.auth(),
                    body: TestGateway.json(#"{"model":"osprey/default",\#(messages),\#(field)}"#)
                ) { response in
                    // Before: each was ignored and answered 200 (a whole answer for "stream":"yes")
                    #expect(response.status == .badRequest, "\(field)")
                    #expect(response.json["error"]?["message"]?.stringValue?.hasPrefix("Field '") == true, "\(field)")
                }
            }
            try await client.execute(
                uri: "/v1/chat/completions",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(#"{"model":"osprey/default",\#(messages),"temperature":0.2,"max_tokens":50}"#)
            ) { #expect($0.status == .ok) }
        }
    }

    @Test(.timeLimit(.minutes(3))) func theOfficialOpenAISDKTalksToAnAgentAsAModel() async throws {
        var config = OspreyConfig()
        config.auth.maxFailures = 3
        // In the order the requests come: curl's stream, then the SDK's plain, continued and streamed requests.
        let provider = ScriptedProvider(messages: [
            .toolCall("read_file", #"{"path":"notes.txt"}"#, id: "call_curl"),
            .assistant("Curl answer."),
            .assistant("Hello from Osprey."),
            .assistant("Hello again."),
            .toolCall("read_file", #"{"path":"notes.txt"}"#),
            .assistant("The notes say: ospreys."),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        try "ospreys".write(
            to: gateway.kernel.runtime.workspace.root.appendingPathComponent("notes.txt"),
            atomically: true,
            encoding: .utf8
        )
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            // curl first (the SDK's last step locks this address out): a stream shows tool activity as comments.
            let streamed = try await Self.curl([
                "-i", "\(base)/v1/chat/completions", "-H", "Authorization: Bearer \(TestGateway.adminToken)",
                "-H", "Content-Type: application/json", "-d",
                #"{"model":"osprey/default","stream":true,"messages":[{"role":"user","content":"read it"}]}"#,
            ])
            #expect(streamed.lowercased().contains("x-osprey-session: ses_"), "\(streamed)")
            #expect(streamed.contains(": tool_call read_file {\"path\":\"notes.txt\"}"), "\(streamed)")
            let content = streamed.split(separator: "\n").filter { $0.hasPrefix("data: {") }.compactMap { line in
                try? JSONValue.parse(String(line.dropFirst(6)))["choices"]?.arrayValue?.first?["delta"]?["content"]?
                    .stringValue
            }.joined()
            #expect(content == "Curl answer." && streamed.hasSuffix("data: [DONE]\n\n"), "\(streamed)")
            #expect(!streamed.contains("tool_calls"))  // never a fake tool call
            let big = gateway.directory.url.appendingPathComponent("big.json")
            try
                (#"{"model":"osprey/default","messages":[{"role":"user","content":""#
                + String(repeating: "x", count: 2 << 20) + #""}]}"#).write(to: big, atomically: true, encoding: .utf8)
            let tooBig = try await Self.curl([
                "-i", "\(base)/v1/chat/completions", "-H", "Authorization: Bearer \(TestGateway.adminToken)",
                "-H", "Content-Type: application/json", "--data-binary", "@\(big.path)",
            ])
            #expect(tooBig.hasPrefix("HTTP/1.1 413"), "\(tooBig.prefix(300))")
            #expect(tooBig.contains(#""type":"invalid_request_error""#))
            let result = try await runPython([Self.client, base, TestGateway.adminToken])
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            let seen = try JSONValue.parse(result.stdout.split(separator: "\n").last.map(String.init) ?? "")
            #expect(seen["problems"] == [], "\(seen)")
            #expect(seen["models"] == ["osprey/default"])
            #expect(seen["answer"] == "Hello from Osprey." && seen["finish"] == "stop", "\(seen)")
            #expect((seen["usage"]?.intValue ?? 0) > 0)
            #expect(
                seen["session"]?.stringValue?.hasPrefix("ses_") == true && seen["extension_session"] == seen["session"]
            )
            #expect(seen["again"] == "Hello again.")
            #expect(seen["streamed"] == "The notes say: ospreys." && seen["stream_finish"] == "stop", "\(seen)")
            #expect((seen["stream_usage"]?.intValue ?? 0) > 0)
            #expect(seen["not_found"]?["status"] == 404 && seen["not_found"]?["code"] == "model_not_found", "\(seen)")
            #expect(seen["client_tools"]?["status"] == 400, "\(seen)")
            #expect(seen["client_tools"]?["message"]?.stringValue?.contains("calls its own tools") == true, "\(seen)")
            #expect(seen["bad_key"]?["status"] == 401 && seen["bad_key"]?["type"] == "authentication_error")
            #expect(seen["locked_out"]?["status"] == 429 && seen["locked_out"]?["retry_after"] != .null, "\(seen)")
        }
        // The continued conversation is one session, with both exchanges in it.
        var conversations: [[String]] = []
        for session in try await gateway.store.sessions.list() {
            conversations.append(try await gateway.store.sessions.messages(of: session.id).map(\.message.text))
        }
        #expect(
            conversations.contains(["Say hello", "Hello from Osprey.", "And again", "Hello again."]),
            "\(conversations)"
        )
        // The streamed request with a system message started its own session with the conversation so far.
        #expect(
            conversations.contains {
                $0.first == "The conversation so far:\nsystem: Be brief.\n\nNow: What is in notes.txt?"
            }
        )
        let calls = try await gateway.store.ledger.events(filter: EventFilter(type: "tool.call.completed"))
        #expect(calls.count == 2)
    }
}
