import NIOHTTP1
import OspreyChannels
import OspreyCore
import OspreyTesting
import Testing

/// A platform's API that answers its head and then stalls (a proxy in between, a platform in trouble): the call
/// fails at its timeout and the connection is let go, instead of the channel's loop waiting on it for ever.
struct ChannelHTTPTests {
    static let stalled = ScriptedHTTPServer.Response(
        headers: ["Content-Type": "application/json"],
        chunks: [#"{"ok": true, "#, #""result": []}"#],
        pause: .seconds(3600)
    )

    @Test(.timeLimit(.minutes(1))) func anAnswerThatStallsAfterItsHeadFailsAtTheTimeout() async throws {
        let server = ScriptedHTTPServer(responses: [Self.stalled, Self.stalled])
        try await server.run { server in
            await #expect {
                _ = try await ChannelHTTP().json(
                    .POST,
                    server.baseURL + "/bot/getUpdates",
                    body: [:],
                    timeout: .seconds(1),
                    label: "telegram getUpdates"
                )
            } throws: { error in
                "\(error)" == "telegram getUpdates: timed out"
            }
            await #expect {
                _ = try await ChannelHTTP().download(
                    server.baseURL + "/file",
                    limit: 1 << 20,
                    label: "file",
                    timeout: .seconds(1)
                )
            } throws: { error in
                "\(error)" == "file: timed out"
            }
        }
    }
}
