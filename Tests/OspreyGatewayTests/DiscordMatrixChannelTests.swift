import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import OspreyChannels
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

/// The Discord and Matrix connectors through the hub, against fakes of their APIs on loopback.
@Suite(.serialized)
struct DiscordMatrixChannelTests {
    static func config(
        _ kind: OspreyConfig.Channel.Kind,
        _ base: String,
        token: String,
        tools: [String] = [],
        _ adjust: (inout OspreyConfig.Channel) -> Void = { _ in }
    ) -> OspreyConfig {
        let variable = "OSPREY_TEST_\(kind.rawValue.uppercased())_TOKEN"
        setenv(variable, token, 1)
        var config = OspreyConfig()
        config.scriptedAgent(tools: tools)
        var channel = OspreyConfig.Channel(name: kind.rawValue, kind: kind, token: "${env:\(variable)}", baseURL: base)
        channel.pollSeconds = 1
        channel.editIntervalMilliseconds = 100
        adjust(&channel)
        config.channels = [channel]
        return config
    }

    @Test func discordResumesAfterADroppedSocketWithoutLosingOrRepeatingAMessage() async throws {
        let discord = FakeDiscord()
        let provider = PacedProvider(
            [.assistant("first answer comes slowly"), .assistant("second answer")],
            pause: .milliseconds(150)
        )
        try await discord.run { base in
            let config = Self.config(.discord, base, token: FakeDiscord.token) { $0.allow = ["111"] }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { client in
                try await TestRuns.waitUntil { discord.state.withLock { $0.identifies == 1 && $0.writer != nil } }
                // channels test reaches the platform with the configured token
                let test = try await client.post("/api/channels/discord/test")
                #expect(test.json["id"] == "4242")
                discord.push("first", from: "111")
                // Mid-run: the answer has started streaming when the socket drops
                try await TestRuns.waitUntil { !discord.shown.isEmpty }
                await discord.drop()
                discord.push("second", from: "111")
                try await TestRuns.waitUntil { discord.shown.contains("second answer") }
                try await TestRuns.waitUntil { discord.shown.contains("first answer comes slowly") }
                let state = discord.state.withLock { ($0.identifies, $0.resumes) }
                // Never a fresh identify: each reconnect resumed (a slow machine may also miss a heartbeat ack and
                // resume once more, which loses and repeats nothing either)
                #expect(state.0 == 1)
                #expect(state.1.count >= 1)
                // It resumed from the last sequence it had handled: the "first" message's, before "second"
                #expect(state.1.contains { $0 >= 2 && $0 < discord.sequence }, "\(state.1)")
                #expect(provider.calls.withLock { $0 } == 2)
                let accepted = try await gateway.store.ledger.events(filter: EventFilter(type: "channel.received"))
                    .filter { $0.payload["outcome"] == "accepted" }
                #expect(accepted.count == 2)
                #expect(discord.shown.filter { $0 == "second answer" }.count == 1)
                #expect(!discord.state.withLock(\.edits).isEmpty)
            }
        }
    }

    @Test func discordStrangersGetACodeAndMarkdownIsEscaped() async throws {
        let discord = FakeDiscord()
        let provider = ScriptedProvider(messages: [.assistant("**bold** @everyone <@1>")])
        try await discord.run { base in
            let config = Self.config(.discord, base, token: FakeDiscord.token) { $0.allow = ["111"] }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { _ in
                try await TestRuns.waitUntil { discord.state.withLock { $0.writer != nil } }
                discord.push("hi", from: "222")
                try await TestRuns.waitUntil { discord.shown.contains { $0.contains("pairing code") } }
                #expect(provider.requests.isEmpty)
                // Discord's 429 with retry_after is waited out, then the message goes
                discord.state.withLock { $0.throttle = 0.5 }
                discord.push("shout", from: "111")
                try await TestRuns.waitUntil { discord.shown.contains("**bold** @everyone <@1>") }
                let creates = discord.state.withLock { $0.creates.suffix(2) }
                #expect(creates.count == 2 && creates.last! - creates.first! >= .milliseconds(500))
                let raw = discord.state.withLock { $0.messages.last?.content ?? "" }
                #expect(raw == #"\*\*bold\*\* \@everyone \<\@1\>"#)
            }
        }
    }

    @Test func discordApprovalsAreButtonsAndUnansweredHeartbeatsMeanAReconnect() async throws {
        let discord = FakeDiscord()
        let provider = ScriptedProvider(messages: [
            .toolCall("run_command", #"{"command":"echo discord"}"#), .assistant("Done on Discord."),
        ])
        try await discord.run { base in
            let config = Self.config(.discord, base, token: FakeDiscord.token, tools: ["run_command"]) {
                $0.allow = ["111"]
                $0.approvers = ["111"]
            }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { _ in
                try await TestRuns.waitUntil { discord.state.withLock { $0.writer != nil } }
                discord.push("run it", from: "111")
                try await TestRuns.waitUntil { discord.state.withLock { $0.messages.contains { !$0.buttons.isEmpty } } }
                let buttons = discord.state.withLock { $0.messages.first { !$0.buttons.isEmpty }?.buttons ?? [] }
                #expect(buttons.count == 2)
                discord.press(try #require(buttons.first { $0.hasPrefix("approve:") }), from: "111")
                try await TestRuns.waitUntil { discord.shown.contains("Done on Discord.") }
                #expect(discord.state.withLock(\.callbacks) == ["Approved."])
                // When the fake stops acknowledging heartbeats, the connector closes the zombie and resumes
                discord.state.withLock { $0.acks = false }
                try await TestRuns.waitUntil { discord.state.withLock { $0.resumes.count >= 1 } }
                discord.state.withLock { $0.acks = true }
                discord.push("after the zombie", from: "111")
                // and the message sent after it arrives once
                try await TestRuns.waitUntil {
                    try await gateway.store.ledger.events(filter: EventFilter(type: "channel.received"))
                        .filter { $0.payload["outcome"] == "accepted" }.count == 2
                }
                #expect(discord.state.withLock { $0.connections } >= 2)
                #expect(discord.state.withLock(\.identifies) == 1)
            }
        }
    }

    /// A gateway connection on which Discord never says Hello (so no heartbeat would ever notice it) is closed after
    /// the Hello limit and made again; the next one identifies.
    @Test(.timeLimit(.minutes(1))) func discordConnectionsWithoutAHelloAreMadeAgain() async throws {
        let discord = FakeDiscord()
        discord.state.withLock { $0.silentConnections = 2 }
        try await discord.run { base in
            let connector = DiscordConnector(
                baseURL: base,
                token: FakeDiscord.token,
                helloLimit: .milliseconds(300),
                logger: Logger(label: "test")
            )
            let reading = Task { try await connector.run(from: nil) { _, _ in } }
            defer { reading.cancel() }
            try await TestRuns.waitUntil { discord.state.withLock(\.identifies) == 1 }
            #expect(discord.state.withLock(\.connections) == 3)
        }
    }

    @Test func matrixAttachmentsLandInTheInboxAndCommandsAnswerApprovals() async throws {
        let matrix = FakeMatrix()
        matrix.state.withLock { $0.media["fake/report"] = Data("uptime 3 days".utf8) }
        let provider = ScriptedProvider(messages: [
            .assistant("read it"), .toolCall("run_command", #"{"command":"echo via command"}"#),
            .assistant("Rejected, fine."),
        ])
        try await matrix.run { base in
            let config = Self.config(.matrix, base, token: FakeMatrix.token, tools: ["run_command"]) {
                $0.allow = ["@ann:fake"]
                $0.approvers = ["@ann:fake"]
            }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { _ in
                try await TestRuns.waitUntil { matrix.state.withLock { $0.syncs.count >= 2 } }
                matrix.push(
                    "m.room.message",
                    from: "@ann:fake",
                    content: [
                        "msgtype": "m.file", "body": "report.txt", "url": "mxc://fake/report", "info": ["size": 13],
                    ]
                )
                try await TestRuns.waitUntil { matrix.shown.contains("read it") }
                let prompt = provider.requests.first?.messages.last?.text ?? ""
                let saved = try #require(prompt.firstMatch(of: /inbox\/matrix\/[^ ,]+/)).output
                let file = gateway.kernel.runtime.workspace.root.appendingPathComponent(String(saved))
                #expect(try String(contentsOf: file, encoding: .utf8) == "uptime 3 days")
                // An approval answered by the !reject command
                matrix.say("run it", from: "@ann:fake")
                try await TestRuns.waitUntil { matrix.shown.contains { $0.contains("Approval needed") } }
                let body = try #require(matrix.shown.first { $0.contains("Approval needed") })
                let approval = try #require(body.firstMatch(of: /apr_[0-9a-f]+/)).output
                matrix.say("!reject \(approval)", from: "@ann:fake")
                try await TestRuns.waitUntil { matrix.shown.contains("Rejected, fine.") }
                #expect(matrix.shown.contains("Rejected."))
                let decided = try await gateway.store.approvals.get(Approval.ID(String(approval)))
                #expect(decided.status == .denied && decided.decidedBy == "channel:matrix/@ann:fake")
            }
        }
    }

    @Test func matrixPairsStreamsEditsAndTakesApprovalsByReaction() async throws {
        let matrix = FakeMatrix()
        let provider = ScriptedProvider(messages: [
            .assistant("hello from matrix"),
            .toolCall("run_command", #"{"command":"echo matrix"}"#), .assistant("Done in matrix."),
        ])
        try await matrix.run { base in
            let config = Self.config(.matrix, base, token: FakeMatrix.token, tools: ["run_command"]) { _ in }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { client in
                try await TestRuns.waitUntil { matrix.state.withLock { $0.syncs.count >= 2 } }
                // A stranger gets a code; the operator pairs them as an approver
                matrix.say("hi", from: "@ann:fake")
                try await TestRuns.waitUntil { matrix.shown.contains { $0.contains("pairing code") } }
                let code = try #require(matrix.shown[0].firstMatch(of: /[A-Z2-9]{4}-[A-Z2-9]{4}/)).output
                let paired = try await client.post("/api/channels/pair", #"{"code":"\#(code)","approver":true}"#)
                #expect(paired.json["approver"] == true)
                matrix.say("hello?", from: "@ann:fake")
                try await TestRuns.waitUntil { matrix.shown.contains("hello from matrix") }
                // The bot's own echoed events never reach the agent
                #expect(provider.requests.count == 1)
                // An approval prompt is answered with a 👍 reaction on it, even one that reaches the bot's sync before
                // the server's answer to the prompt's send names the prompt's id
                matrix.state.withLock { $0.sendAnswerDelay = .milliseconds(400) }
                matrix.say("run it", from: "@ann:fake")
                try await TestRuns.waitUntil { matrix.shown.contains { $0.contains("Approval needed") } }
                let prompt = try #require(
                    matrix.sent.first { $0.content["body"]?.stringValue?.contains("Approval needed") == true }
                )
                matrix.push(
                    "m.reaction",
                    from: "@ann:fake",
                    content: ["m.relates_to": ["rel_type": "m.annotation", "event_id": .string(prompt.id), "key": "👍"]]
                )
                try await TestRuns.waitUntil { matrix.shown.contains("Done in matrix.") }
                matrix.state.withLock { $0.sendAnswerDelay = .zero }
                let approvals = try await gateway.store.approvals.list(status: nil, limit: 10)
                #expect(approvals.first?.decidedBy == "channel:matrix/@ann:fake")
                #expect(matrix.sent.allSatisfy { $0.content["formatted_body"] != nil })
            }
        }
    }
}
