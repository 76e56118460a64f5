import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyAgent
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

/// A provider that streams its answer word by word with a pause between words, as a real model does.
final class PacedProvider: ModelProvider {
    let replies: Mutex<[Message]>
    let pause: Duration
    let calls = Mutex(0)

    init(_ replies: [Message], pause: Duration = .milliseconds(120)) {
        self.replies = Mutex(replies)
        self.pause = pause
    }

    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        calls.withLock { $0 += 1 }
        let message = replies.withLock { $0.isEmpty ? Message.assistant("(script exhausted)") : $0.removeFirst() }
        for (index, word) in message.text.split(separator: " ").enumerated() {
            if index > 0 { try await Task.sleep(for: pause) }
            try await onEvent(.textDelta((index == 0 ? "" : " ") + word))
        }
        return ModelReply(message: message, usage: Usage(inputTokens: 10, outputTokens: 5), stopReason: .endTurn)
    }
}

/// The channel hub through the Telegram connector, against a fake Bot API on loopback.
@Suite(.serialized)
struct TelegramChannelTests {
    static let tokenVariable = "OSPREY_TEST_TELEGRAM_TOKEN"

    static func config(
        _ base: String,
        tools: [String] = [],
        _ adjust: (inout OspreyConfig.Channel) -> Void = { _ in }
    )
        -> OspreyConfig
    {
        setenv(tokenVariable, FakeTelegram.token, 1)
        var config = OspreyConfig()
        config.scriptedAgent(tools: tools)
        var channel = OspreyConfig.Channel(
            name: "telegram",
            kind: .telegram,
            token: "${env:\(tokenVariable)}",
            baseURL: base
        )
        channel.pollSeconds = 1
        channel.editIntervalMilliseconds = 100
        adjust(&channel)
        config.channels = [channel]
        return config
    }

    static func received(_ gateway: TestGateway, outcome: String) async throws -> [Event] {
        try await gateway.store.ledger.events(filter: EventFilter(type: "channel.received"), limit: 1000)
            .filter { $0.payload["outcome"]?.stringValue == outcome }
    }

    @Test func aStrangerGetsOnlyACodeAndPairingLetsThemTalk() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [.assistant("Hello paired friend")])
        try await telegram.run { base in
            let gateway = try await TestGateway(config: Self.config(base), provider: provider)
            try await gateway.app().test(.live) { client in
                // Given a stranger who writes to the bot
                telegram.push("let me in", from: 555, name: "Mallory")
                try await TestRuns.waitUntil { telegram.sent.contains { $0.chat == "555" } }
                // Then they get a pairing code and nothing else: no agent ran
                let reply = try #require(telegram.sent.first { $0.chat == "555" })
                let code = try #require(reply.text.firstMatch(of: /[A-Z2-9]{4}-[A-Z2-9]{4}/)).output
                #expect(provider.requests.isEmpty)
                // and writing again issues no second code
                telegram.push("please", from: 555)
                try await TestRuns.waitUntil { try await Self.received(gateway, outcome: "pairing_pending").count == 1 }
                #expect(telegram.sent.filter { $0.chat == "555" }.count == 1)
                let pending = try await client.execute(uri: "/api/channels", method: .get, headers: TestGateway.auth())
                {
                    $0.json
                }
                #expect(pending["pending"]?.arrayValue?.first?["sender"] == "555")
                #expect(!pending.canonicalJSON.contains(String(code)))
                // When the operator pairs the code
                let paired = try await client.post("/api/channels/pair", #"{"code":"\#(code.lowercased())"}"#)
                #expect(paired.status == .ok, "\(paired.json)")
                #expect(paired.json["sender"] == "555")
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text.hasPrefix("Paired") } }
                // the code is used up
                let again = try await client.post("/api/channels/pair", #"{"code":"\#(code)"}"#)
                #expect(again.status == .notFound)
                #expect(again.errorCode == "invalid_code")
                // and the sender's next message runs the agent, whose answer comes back
                telegram.push("what's up?", from: 555)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "Hello paired friend" } }
                #expect(provider.requests.count == 1)
                let session = try #require(try await gateway.store.channels.session(of: "555", on: "telegram"))
                let messages = try await gateway.store.sessions.messages(of: session)
                #expect(messages.first?.message.text == "what's up?")
                let events = try await gateway.store.ledger.events(filter: EventFilter(type: "channel.paired"))
                #expect(events.count == 1)
            }
        }
    }

    @Test func wrongCodesAreRateLimited() async throws {
        let telegram = FakeTelegram()
        try await telegram.run { base in
            let gateway = try await TestGateway(config: Self.config(base))
            try await gateway.app().test(.live) { client in
                for _ in 0..<5 {
                    let wrong = try await client.post("/api/channels/pair", #"{"code":"AAAA-BBBB"}"#)
                    #expect(wrong.errorCode == "invalid_code")
                }
                let limited = try await client.post("/api/channels/pair", #"{"code":"AAAA-CCCC"}"#)
                #expect(limited.status == .tooManyRequests)
                #expect(limited.errorCode == "too_many_attempts")
                let malformed = try await client.post("/api/channels/pair", #"{"code":"x"}"#)
                #expect(malformed.status == .badRequest)
            }
        }
    }

    @Test func anAllowedSendersAnswerStreamsAsEditsOfOneMessage() async throws {
        let telegram = FakeTelegram()
        let answer = "one two three four five six seven eight"
        let provider = PacedProvider([.assistant(answer)])
        try await telegram.run { base in
            let config = Self.config(base) { $0.allow = ["777"] }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { _ in
                telegram.push("count to eight", from: 777)
                try await TestRuns.waitUntil { telegram.sent.first?.text == answer }
                let sent = telegram.sent
                #expect(sent.count == 1)
                let edits = telegram.edits
                #expect(edits.count >= 2, "\(edits)")
                #expect(edits.allSatisfy { $0.id == sent[0].id })
                #expect(edits.allSatisfy { answer.hasPrefix($0.text) })
                // Each edit's event commits after the platform answered it
                try await TestRuns.waitUntil {
                    try await gateway.store.ledger.events(filter: EventFilter(type: "channel.sent"))
                        .filter { $0.payload["edit"] == true }.count == edits.count
                }
                let outgoing = try await gateway.store.ledger.events(filter: EventFilter(type: "channel.sent"))
                #expect(outgoing.allSatisfy { $0.payload["sender"] == "777" })
            }
        }
    }

    @Test func anApprovalIsAnsweredByItsButtonAndOnlyByAnApprover() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [
            .toolCall("run_command", #"{"command":"echo channel-approved"}"#), .assistant("Ran it."),
        ])
        try await telegram.run { base in
            let config = Self.config(base, tools: ["run_command"]) {
                $0.allow = ["888", "889"]
                $0.approvers = ["888"]
            }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { _ in
                // A channel's message is untrusted: the run is tainted, so the command needs a human
                telegram.push("run the echo", from: 888)
                try await TestRuns.waitUntil { telegram.sent.contains { !$0.buttons.isEmpty } }
                let prompt = try #require(telegram.sent.first { !$0.buttons.isEmpty })
                #expect(prompt.chat == "888")
                let approve = try #require(prompt.buttons.first { $0.hasPrefix("approve:") })
                // A sender who is not an approver cannot answer it
                telegram.press(approve, from: 889, on: prompt.id)
                try await TestRuns.waitUntil { telegram.callbacks.count == 1 }
                #expect(telegram.callbacks == ["You may not answer approvals here."])
                // The approver's press decides it, and the run goes on to its answer
                telegram.press(approve, from: 888, on: prompt.id)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "Ran it." } }
                #expect(telegram.callbacks.last == "Approved.")
                let approval = try await gateway.store.approvals.get(Approval.ID(String(approve.dropFirst(8))))
                #expect(approval.decidedBy == "channel:telegram/888")
                // It asked because the run was tainted by what the channel carried in
                #expect(approval.rule == "taint")
                #expect(provider.requests.count == 2)
            }
        }
    }

    @Test func updatesAreNotRepeatedAfterARestart() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [.assistant("first answer"), .assistant("second answer")])
        try await telegram.run { base in
            let gateway = try await TestGateway(config: Self.config(base) { $0.allow = ["777"] }, provider: provider)
            try await gateway.app().test(.live) { _ in
                telegram.push("first", from: 777)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "first answer" } }
            }
            // While the gateway is down, a second message arrives; the first is still on Telegram's side unless
            // the offset confirmed it.
            telegram.push("second", from: 777)
            try await gateway.app().test(.live) { _ in
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "second answer" } }
            }
            #expect(provider.requests.count == 2)
            #expect(try await Self.received(gateway, outcome: "accepted").count == 2)
            #expect(telegram.sent.filter { $0.text == "first answer" }.count == 1)
            #expect(try await gateway.store.channels.cursor(of: "telegram") == "3")
        }
    }

    @Test func a429RetryAfterIsHonoured() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [.assistant("after the wait")])
        try await telegram.run { base in
            let gateway = try await TestGateway(config: Self.config(base) { $0.allow = ["777"] }, provider: provider)
            try await gateway.app().test(.live) { _ in
                telegram.throttleOnce("sendMessage", seconds: 1)
                telegram.push("hi", from: 777)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "after the wait" } }
            }
        }
        let sends = telegram.requestTimes("sendMessage")
        #expect(sends.count == 2)
        if sends.count == 2 { #expect(sends[1] - sends[0] >= .seconds(1)) }
    }

    @Test func aLongAnswerIsSplitAtTheLimitAndEscaped() async throws {
        let telegram = FakeTelegram()
        let words = (0..<1500).map { "w\($0)." }
        let answer = String(words.joined(separator: " ").prefix(10_000))
        let provider = ScriptedProvider(messages: [.assistant(answer)])
        try await telegram.run { base in
            let gateway = try await TestGateway(config: Self.config(base) { $0.allow = ["777"] }, provider: provider)
            try await gateway.app().test(.live) { _ in
                telegram.push("talk a lot", from: 777)
                try await TestRuns.waitUntil { telegram.sent.map(\.text).joined() == answer }
            }
        }
        let sent = telegram.sent
        #expect(sent.count == 3)
        #expect(sent.allSatisfy { $0.text.count <= 4096 })
        // Every "." went out escaped for MarkdownV2 (the fake refuses nothing, but records what was sent raw).
        #expect(telegram.rawTexts.allSatisfy { !$0.contains(/[^\\]\./) })
    }

    @Test func aMalformedUpdateIsSkippedAndGroupsNeedAnAllowAndAMention() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [.assistant("still here"), .assistant("group answer")])
        try await telegram.run { base in
            let config = Self.config(base) {
                $0.allow = ["777"]
                $0.groups = ["-100"]
            }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { _ in
                telegram.pushRaw(["message": ["chat": "nonsense", "text": .int(5)]])
                telegram.pushRaw(["edited_channel_post": [:]])
                telegram.push("are you there?", from: 777)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "still here" } }
                #expect(try await Self.received(gateway, outcome: "malformed").count == 2)
                // In a group: ignored without a mention, and in a group nobody allowed
                telegram.push("hello all", from: 777, chat: -100)
                telegram.push("@osprey_bot hi", from: 777, chat: -200)
                telegram.push("@osprey_bot answer me", from: 777, chat: -100)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "group answer" } }
                #expect(try await Self.received(gateway, outcome: "ignored").count == 2)
                #expect(telegram.sent.first { $0.text == "group answer" }?.chat == "-100")
                #expect(provider.requests.count == 2)
            }
        }
    }

    @Test func aRevokedSenderIsRefusedAtOnce() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [.assistant("welcome"), .assistant("never sent")])
        try await telegram.run { base in
            let gateway = try await TestGateway(config: Self.config(base), provider: provider)
            try await gateway.app().test(.live) { client in
                telegram.push("hi", from: 600)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.chat == "600" } }
                let code = try #require(telegram.sent[0].text.firstMatch(of: /[A-Z2-9]{4}-[A-Z2-9]{4}/)).output
                #expect(try await client.post("/api/channels/pair", #"{"code":"\#(code)"}"#).status == .ok)
                telegram.push("hello", from: 600)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "welcome" } }
                let revoked = try await client.post("/api/channels/telegram/revoke", #"{"sender":"600"}"#)
                #expect(revoked.status == .ok, "\(revoked.json)")
                #expect(revoked.json["revoked_at"]?.stringValue != nil)
                telegram.push("still me", from: 600)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text.contains("revoked") } }
                #expect(provider.requests.count == 1)
                #expect(try await Self.received(gateway, outcome: "revoked").count == 1)
                // Unknown senders and channels are clear errors
                let unknown = try await client.post("/api/channels/telegram/revoke", #"{"sender":"nobody"}"#)
                #expect(unknown.status == .notFound)
                let nochannel = try await client.post("/api/channels/slack/revoke", #"{"sender":"600"}"#)
                #expect(nochannel.status == .notFound)
            }
        }
    }

    @Test func aSenderOverTheRateLimitIsRefusedWithOneNotice() async throws {
        let telegram = FakeTelegram()
        let provider = ScriptedProvider(messages: [.assistant("one"), .assistant("two"), .assistant("three")])
        try await telegram.run { base in
            let config = Self.config(base) {
                $0.allow = ["777"]
                $0.ratePerMinute = 2
            }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { _ in
                for n in 1...5 { telegram.push("message \(n)", from: 777) }
                try await TestRuns.waitUntil { try await Self.received(gateway, outcome: "rate_limited").count == 3 }
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "two" } }
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text.hasPrefix("Too many") } }
                #expect(telegram.sent.filter { $0.text.hasPrefix("Too many") }.count == 1)
                #expect(try await Self.received(gateway, outcome: "accepted").count == 2)
                // In order, one at a time: the chat's session has the two admitted messages first to last
                let session = try #require(try await gateway.store.channels.session(of: "777", on: "telegram"))
                // (an answer streams to the chat before its message is stored)
                try await TestRuns.waitUntil { try await gateway.store.sessions.messages(of: session).count == 4 }
                let texts = try await gateway.store.sessions.messages(of: session).map(\.message.text)
                #expect(texts == ["message 1", "one", "message 2", "two"])
            }
        }
    }

    @Test func attachmentsLandInTheInboxAsUntrustedFilesWithinTheCap() async throws {
        let telegram = FakeTelegram()
        telegram.state.withLock {
            $0.files["small"] = Data("notes from a stranger".utf8)
            $0.files["big"] = Data(repeating: 65, count: 4096)
        }
        let provider = ScriptedProvider(messages: [.assistant("got it"), .assistant("got the other")])
        try await telegram.run { base in
            let config = Self.config(base) {
                $0.allow = ["777"]
                $0.maxAttachmentBytes = 1024
            }
            let gateway = try await TestGateway(config: config, provider: provider)
            try await gateway.app().test(.live) { client in
                telegram.push(
                    "",
                    from: 777,
                    extra: ["caption": "read this", "document": ["file_id": "small", "file_name": "../notes.txt"]]
                )
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "got it" } }
                telegram.push("", from: 777, extra: ["document": ["file_id": "big", "file_name": "big.bin"]])
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "got the other" } }
                let prompts = provider.requests.compactMap { $0.messages.last?.text }
                #expect(prompts[0].contains("read this"))
                let saved = try #require(prompts[0].firstMatch(of: /inbox\/telegram\/[^ ,]+/)).output
                let file = gateway.kernel.runtime.workspace.root.appendingPathComponent(String(saved))
                #expect(try String(contentsOf: file, encoding: .utf8) == "notes from a stranger")
                #expect(!saved.contains(".."))
                #expect(try await gateway.store.provenance.holdsTaintedContent(String(saved)))
                #expect(prompts[1].contains("not saved"))
                _ = client
            }
        }
    }
}

extension FakeTelegram {
    /// When each call of `method` arrived.
    func requestTimes(_ method: String) -> [ContinuousClock.Instant] {
        state.withLock { $0.calls.filter { $0.method == method }.map(\.at) }
    }

    /// The texts sent and edited, as sent (escaped).
    var rawTexts: [String] { state.withLock { $0.raw } }
}
