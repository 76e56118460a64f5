import Foundation
import OspreyAgent
import OspreyCore
import OspreyProviders
import OspreySandbox
import OspreyStore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

struct AgentLoopTests {
    @Test func aReplyWithoutToolCallsFinishes() {
        var loop = AgentLoop(history: [], prompt: .user("hi"), maxTurns: 5, maxSeconds: 60)
        #expect(loop.start() == .callModel([.user("hi")]))
        #expect(loop.modelReplied(.assistant("hello"), elapsedSeconds: 1) == .finish(.assistant("hello")))
    }

    @Test func toolCallsGoToTheToolsAndTheirResultsBackToTheModel() {
        var loop = AgentLoop(
            history: [.user("before"), .assistant("ok")],
            prompt: .user("read"),
            maxTurns: 5,
            maxSeconds: 60
        )
        _ = loop.start()
        let call = Message.toolCall("read_file", #"{"path":"a"}"#)
        #expect(loop.modelReplied(call, elapsedSeconds: 1) == .callTools(call.toolCalls))
        let result = ToolResult(callID: ToolCall.ID("call_1"), output: "A")
        guard case .callModel(let messages) = loop.toolsReturned([result], elapsedSeconds: 2) else {
            Issue.record("expected a model call")
            return
        }
        #expect(messages.count == 5)
        #expect(messages.last == Message(role: .tool, content: [.toolResult(result)]))
        #expect(loop.toolRounds == 1)
    }

    @Test(arguments: [1, 2, 5])
    func theTurnLimitStopsARunaway(maxTurns: Int) {
        var loop = AgentLoop(history: [], prompt: .user("loop"), maxTurns: maxTurns, maxSeconds: 60)
        var action = loop.start()
        var calls = 0
        while case .callModel = action {
            calls += 1
            _ = loop.modelReplied(.toolCall("list_dir", "{}"), elapsedSeconds: 0)
            action = loop.toolsReturned([ToolResult(callID: ToolCall.ID("call_1"), output: "")], elapsedSeconds: 0)
        }
        #expect(calls == maxTurns)
        #expect(action == .fail(.tooManyTurns(maxTurns)))
    }

    @Test func theTimeLimitIsCheckedBeforeEveryStep() {
        var loop = AgentLoop(history: [], prompt: .user("slow"), maxTurns: 50, maxSeconds: 10)
        _ = loop.start()
        #expect(loop.modelReplied(.toolCall("list_dir", "{}"), elapsedSeconds: 11) == .fail(.timeLimit(seconds: 10)))
    }

    @Test func compactionWaitsForTheThresholdAndNeverSplitsAToolCallFromItsResult() {
        let guardrail = ContextGuard(threshold: 50, keepRecent: 2)
        let call = Message.toolCall("read_file", #"{"path":"a.txt"}"#)
        let result = Message(
            role: .tool,
            content: [.toolResult(ToolResult(callID: ToolCall.ID("call_1"), output: "x"))]
        )
        let long = String(repeating: "words ", count: 100)
        #expect(guardrail.compactionCount([.user("short")], instructions: nil, tools: []) == nil)
        let messages: [Message] = [.user(long), .assistant(long), .user("now"), call, result, .assistant("done")]
        // Keeping the last 2 would start at the tool result: the cut moves back to keep the call with it.
        #expect(guardrail.compactionCount(messages, instructions: nil, tools: []) == 3)
        let checkpoint = ContextGuard.checkpoint(messages)
        #expect(checkpoint.contains("Files touched:\n- read_file a.txt"))
        #expect(checkpoint.contains("User requests:\n- \"words"))
    }
}

@Suite(.serialized)
struct AgentTests {
    @Test func theAgentReadsAFileWithAToolAndAnswers() async throws {
        let provider = ScriptedProvider(messages: [
            .toolCall("read_file", #"{"path":"notes.txt"}"#),
            .assistant("The first line is: The osprey returns at dawn."),
        ])
        let fixture = try await AgentFixture(provider: provider)
        defer { fixture.directory.remove() }
        let events = Mutex<[AgentEvent]>([])
        let before = fixture.store.commitStatistics.transactions
        let result = try await fixture.agent.run("Read notes.txt", session: fixture.session.id, actor: .user("test")) {
            event in
            events.withLock { $0.append(event) }
        }
        #expect(result.message.text == "The first line is: The osprey returns at dawn.")
        #expect(result.turns == 2)
        #expect(result.usage == Usage(inputTokens: 20, outputTokens: 10))
        // The second request carried the tool's real output.
        let second = try #require(provider.requests.last)
        guard case .toolResult(let toolResult)? = second.messages.last?.content.first else {
            Issue.record("the model never saw the tool result")
            return
        }
        #expect(toolResult.output == "The osprey returns at dawn.\nSecond line.\n")
        #expect(second.instructions?.contains("Files in the workspace: notes.txt") == true)
        #expect(events.withLock { $0 }.contains(.toolResult(toolResult)))
        #expect(
            try await fixture.eventTypes == [
                "session.created", "message.user", "llm.call", "message.assistant", "tool.call.requested",
                "policy.decision", "tool.call.completed",
                "message.tool", "llm.call", "message.assistant",
            ]
        )
        // Four writes: the prompt; the reply with its call, the call's request and the policy's decision on it; the
        // call's outcome with the tool message; the answer.
        #expect(fixture.store.commitStatistics.transactions - before == 4)
        let transcript = try await fixture.store.sessions.messages(of: fixture.session.id).map(\.message.role)
        #expect(transcript == [.user, .assistant, .tool, .assistant])
        #expect(try await fixture.store.ledger.verify().ok)
    }

    /// The prompt is written while the model is asked, but nothing of the run gets ahead of its commit: every text
    /// delta reaches the caller with the prompt already in the transcript, and a failed call is recorded after it.
    @Test func nothingOfARunGetsAheadOfItsPromptsWrite() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-prompt")
        defer { home.remove() }
        // A file's store: its reads never wait for the writer, which this test holds.
        let store = try home.store()
        let fixture = try await AgentFixture(
            provider: ScriptedProvider(messages: [.assistant("Hello there, friend.")]),
            store: store
        )
        defer { fixture.directory.remove() }
        let session = fixture.session.id
        // The writer is held until a text delta has reached the caller (or 0.3 s have passed), so the prompt's
        // write waits behind it while the model answers: a delta that did not wait for the write would arrive first.
        let (holding, delivered) = (Flag(), Flag())
        async let held: Void = store.transaction { _ in
            holding.raise()
            for _ in 0..<300 where !delivered.isRaised { usleep(1000) }
        }
        try await TestRuns.waitUntil { holding.isRaised }
        let seen = Mutex<[[Role]]>([])
        _ = try await fixture.agent.run("Say hello", session: session, actor: .user("test")) { event in
            guard case .textDelta = event else { return }
            let roles = try await store.sessions.messages(of: session).map(\.message.role)
            seen.withLock { $0.append(roles) }
            delivered.raise()
        }
        try await held
        #expect(seen.withLock { $0 } == [[.user], [.user], [.user]])

        let failing = try await AgentFixture(provider: ScriptedProvider(replies: []))
        defer { failing.directory.remove() }
        await #expect(throws: (any Error).self) { try await failing.run("Say hello") }
        #expect(try await failing.store.sessions.messages(of: failing.session.id).map(\.message.text) == ["Say hello"])
        #expect(try await failing.eventTypes == ["session.created", "message.user", "llm.call"])
    }

    /// A flag raised once, read from any thread.
    final class Flag: Sendable {
        private let raised = Atomic(false)
        func raise() { raised.store(true, ordering: .releasing) }
        var isRaised: Bool { raised.load(ordering: .acquiring) }
    }

    @Test func toolMistakesGoBackToTheModelAsErrors() async throws {
        let provider = ScriptedProvider(messages: [
            Message(
                role: .assistant,
                content: [
                    .toolCall(ToolCall(id: ToolCall.ID("a"), name: "no_such_tool", arguments: "{}")),
                    .toolCall(
                        ToolCall(id: ToolCall.ID("b"), name: "read_file", arguments: #"{"path":"x","path":"y"}"#)
                    ),
                    .toolCall(
                        ToolCall(id: ToolCall.ID("c"), name: "read_file", arguments: #"{"path":"../../etc/passwd"}"#)
                    ),
                ]
            ), .assistant("Sorry."),
        ])
        let fixture = try await AgentFixture(provider: provider)
        defer { fixture.directory.remove() }
        let result = try await fixture.run("do things")
        #expect(result.message.text == "Sorry.")
        let results = try #require(provider.requests.last?.messages.last?.content).compactMap { part -> ToolResult? in
            if case .toolResult(let result) = part { return result }
            return nil
        }
        #expect(results.map(\.callID.rawValue) == ["a", "b", "c"])
        #expect(results.allSatisfy { $0.isError })
        #expect(results[1].output.contains("duplicate key"))
        #expect(results[2].output.contains("outside the workspace"))
        #expect(try await fixture.eventTypes.filter { $0 == "tool.call.failed" }.count == 3)
    }

    @Test func aRunawayModelStopsAtTheTurnLimit() async throws {
        let provider = ScriptedProvider(messages: Array(repeating: .toolCall("list_dir", "{}"), count: 10))
        var settings = OspreyConfig.Agent()
        settings.maxTurns = 3
        let fixture = try await AgentFixture(provider: provider, settings: settings)
        defer { fixture.directory.remove() }
        await #expect(throws: AgentError.tooManyTurns(3)) { _ = try await fixture.run("loop forever") }
        #expect(provider.requests.count == 3)
    }

    @Test func aRunOverItsTokenBudgetIsRefusedBeforeTheCall() async throws {
        let provider = ScriptedProvider(messages: [.assistant("never sent")])
        var settings = OspreyConfig.Agent()
        settings.tokensPerRun = 100
        settings.maxReplyTokens = 200
        let fixture = try await AgentFixture(provider: provider, settings: settings)
        defer { fixture.directory.remove() }
        do {
            _ = try await fixture.run("hi")
            Issue.record("expected the budget to refuse")
        } catch let error as AgentError {
            #expect(error.code == "budget_exceeded")
        }
        #expect(provider.requests.isEmpty)
        let refused = try await fixture.store.ledger.events(filter: EventFilter(type: "budget.exceeded"))
        #expect(refused.count == 1)
        #expect(refused[0].payload["reason"]?.stringValue?.contains("limit is 100") == true)
    }

    @Test func theDailyCostBudgetHoldsAcrossRuns() async throws {
        let provider = ScriptedProvider(
            replies: Array(
                repeating: ModelReply(
                    message: .assistant("ok"),
                    usage: Usage(inputTokens: 400_000, outputTokens: 0),
                    stopReason: .endTurn
                ),
                count: 4
            )
        )
        var settings = OspreyConfig.Agent()
        settings.costPerDayUSD = 1.0
        settings.maxReplyTokens = 10
        // $1 per million input tokens: each run costs $0.40.
        let fixture = try await AgentFixture(
            provider: provider,
            settings: settings,
            pricing: Pricing(inputPerMillion: 1, outputPerMillion: 1)
        )
        defer { fixture.directory.remove() }
        // A call is reserved at its estimate (small here), so the third run still fits; it settles at $0.40
        // and takes the day to $1.20. From then on every call is refused before it is made.
        _ = try await fixture.run("one")
        _ = try await fixture.run("two")
        _ = try await fixture.run("three")
        await #expect(throws: AgentError.self) { _ = try await fixture.run("four") }
        #expect(provider.requests.count == 3)
        let calls = try await fixture.store.ledger.events(filter: EventFilter(type: "llm.call"))
        #expect(calls.map { $0.payload["cost_usd"]?.doubleValue } == [0.4, 0.4, 0.4])
        #expect(calls.allSatisfy { $0.payload["tokens_in"] == 400_000 && $0.payload["provider"] == "scripted" })
    }

    @Test func aStreamCutInsideAToolCallNeverRunsTheToolAndIsCountedOnce() async throws {
        let server = ScriptedHTTPServer(responses: [
            .sse(
                [
                    #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_x","function":{"name":"write_file","arguments":"{\"path\":\"pwned.txt\",\"con"}}]}}]}"#
                ],
                cut: true
            )
        ])
        try await server.run { server in
            let provider = OpenAIProvider(name: "scripted", baseURL: server.baseURL + "/v1", apiKey: nil)
            let fixture = try await AgentFixture(provider: provider)
            defer { fixture.directory.remove() }
            await #expect(throws: AgentError.self) { _ = try await fixture.run("write a file") }
            #expect(
                !FileManager.default.fileExists(atPath: fixture.directory.url.appendingPathComponent("pwned.txt").path)
            )
            let types = try await fixture.eventTypes
            #expect(!types.contains("tool.call.requested"))
            let calls = try await fixture.store.ledger.events(filter: EventFilter(type: "llm.call"))
            #expect(calls.count == 1)
            #expect(calls.first?.payload["outcome"] == "stream_cut")
            #expect(server.requests.count == 1)  // output had reached the client: no retry
        }
    }

    @Test func aLongConversationIsCompactedWithACheckpointAndRecentTurnsKept() async throws {
        let provider = ScriptedProvider(messages: [
            .assistant("Summary: the user asked about notes."), .toolCall("read_file", #"{"path":"notes.txt"}"#),
            .assistant("Done."),
        ])
        var settings = OspreyConfig.Agent()
        settings.contextTokens = 800
        let fixture = try await AgentFixture(provider: provider, settings: settings)
        defer { fixture.directory.remove() }
        let filler = String(repeating: "background detail ", count: 60)
        for turn in 0..<4 {
            let text = turn < 2 ? "question \(turn) \(filler)" : "question \(turn)"
            try await fixture.store.sessions.append(.user(text), to: fixture.session.id, actor: .user("test"))
            try await fixture.store.sessions.append(
                .assistant("answer \(turn)"),
                to: fixture.session.id,
                actor: .agent("default")
            )
        }
        let result = try await fixture.run("read notes.txt please")
        #expect(result.message.text == "Done.")
        let compacted = try await fixture.store.ledger.events(filter: EventFilter(type: "session.compacted"))
        #expect(compacted.count == 1)
        #expect(compacted.first?.payload["checkpoint"]?.stringValue?.contains("User requests:\n- \"question 0") == true)
        // The request after compaction starts with the summary (model-written and deterministic) and keeps the prompt.
        let request = try #require(provider.requests.dropFirst().first)
        let summary = try #require(request.messages.first)
        #expect(summary.role == .system)
        #expect(summary.text.contains("Summary: the user asked about notes."))
        #expect(summary.text.contains("Checkpoint of"))
        #expect(request.messages.contains(.user("read notes.txt please")))
        #expect(!request.messages.contains { $0.text.contains("question 0") && $0.role == .user })
        // A later run starts from the summary, not from the full history.
        let history = try await fixture.store.sessions.messages(of: fixture.session.id).count
        #expect(history > 8)
    }
}
