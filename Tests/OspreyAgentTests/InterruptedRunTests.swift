import Foundation
import OspreyAgent
import OspreyCore
import OspreyStore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

@testable import OspreyProviders

/// An agent with the slow tool beside the built-in ones, on an in-memory store, with a scripted model.
struct SlowToolFixture {
    let store: Store
    let directory: TemporaryDirectory
    let agent: Agent
    let session: Session
    let provider: ScriptedProvider

    init(
        replies: [Message],
        settings: OspreyConfig.Agent = OspreyConfig.Agent(),
        store: Store? = nil,
        clock: some Clock<Duration> & Sendable = ContinuousClock(),
        slowCall: Duration = .seconds(30),
        modelTakes: Duration = .zero,
        model: ((Store) -> any ModelProvider)? = nil
    ) async throws {
        let store = try store ?? Store.inMemory()
        self.store = store
        directory = try TemporaryDirectory(prefix: "osprey-interrupted")
        provider = ScriptedProvider(messages: replies)
        agent = Agent(
            name: "default",
            settings: settings,
            routes: [ModelRoute(provider: "scripted", model: "test")],
            router: Router(
                providers: ["scripted": model?(store) ?? DelayedProvider(provider, taking: modelTakes)],
                policy: RetryPolicy(maxAttempts: 1),
                sleep: { _ in }
            ),
            toolbox: Toolbox([SlowTool(taking: slowCall)] + Toolbox.builtInTools),
            store: store,
            meter: Meter(store: store) { _ in nil },
            workspace: try Workspace(root: directory.url),
            clock: clock
        )
        session = try await store.sessions.create(actor: .user("test"))
    }

    /// Every tool call of the transcript has a result in the tool message right after it.
    static func everyCallIsAnswered(_ messages: [Message]) -> Bool {
        for (index, message) in messages.enumerated() where !message.toolCalls.isEmpty {
            guard index + 1 < messages.count, messages[index + 1].role == .tool else { return false }
            let answered = Set(
                messages[index + 1].content.compactMap { if case .toolResult(let r) = $0 { r.callID } else { nil } }
            )
            if !message.toolCalls.allSatisfy({ answered.contains($0.id) }) { return false }
        }
        return true
    }

    /// Every `tool_calls` id of an OpenAI request body has a `role: tool` message answering it.
    static func openAIBodyAnswersEveryCall(_ request: ModelRequest) -> Bool {
        let messages = OpenAIProvider.body(for: request)["messages"]?.arrayValue ?? []
        let calls = messages.flatMap { $0["tool_calls"]?.arrayValue ?? [] }.compactMap { $0["id"]?.stringValue }
        let answers = messages.filter { $0["role"]?.stringValue == "tool" }.compactMap {
            $0["tool_call_id"]?.stringValue
        }
        return !calls.isEmpty && Set(calls) == Set(answers)
    }
}

/// A provider that answers after `delay` of wall time.
struct DelayedProvider: ModelProvider {
    let provider: any ModelProvider
    let delay: Duration

    init(_ provider: any ModelProvider, taking delay: Duration) {
        self.provider = provider
        self.delay = delay
    }

    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        if delay > .zero { try await Task.sleep(for: delay) }
        return try await provider.respond(to: request, onEvent: onEvent)
    }
}

/// A model whose first answer (a megabyte of text) comes once the database can no longer grow, as on a full disk:
/// the call is made and paid for, and the step that records it is refused.
final class DiskFillingProvider: ModelProvider {
    let store: Store
    private let first = Mutex(true)

    init(store: Store) { self.store = store }

    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        let usage = Usage(inputTokens: 10, outputTokens: 5)
        let isFirst = first.withLock { first in
            defer { first = false }
            return first
        }
        guard isFirst else {
            return ModelReply(message: .assistant("Back."), usage: usage, stopReason: .endTurn)
        }
        // The run writes its prompt while the model is asked: that write gets in first.
        try await TestRuns.waitUntil { try await self.store.ledger.events().contains { $0.type == .messageUser } }
        let pages = try await store.transaction { db in try db.value(Int.self, "PRAGMA page_count") ?? 0 }
        _ = try await store.transaction { db in try db.execute("PRAGMA max_page_count = \(pages)") }
        return ModelReply(
            message: .assistant(String(repeating: "x", count: 1 << 20)),
            usage: usage,
            stopReason: .endTurn
        )
    }
}

struct InterruptedRunTests {
    /// A model call made and paid for whose step the store refused (a full disk) is still charged: recorded (its
    /// `llm.call` and the day's usage) at the next call, once the store takes writes again.
    @Test func aPaidCallWhoseStepTheDiskRefusedIsChargedOnceThereIsRoom() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-owed")
        defer { directory.remove() }
        let fixture = try await SlowToolFixture(
            replies: [],
            store: try directory.store(),
            model: { DiskFillingProvider(store: $0) }
        )
        let store = fixture.store
        // Given a run whose model answered while the disk filled
        await #expect {
            _ = try await fixture.agent.run("hello", session: fixture.session.id, actor: .user("test")) { _ in }
        } throws: { ($0 as? StoreError)?.isUnavailable == true }
        #expect(try await store.ledger.events().filter { $0.type == .llmCall }.isEmpty)
        // When there is room again and the next message comes
        _ = try await store.transaction { db in try db.execute("PRAGMA max_page_count = 1073741823") }
        _ = try await fixture.agent.run("again", session: fixture.session.id, actor: .user("test")) { _ in }
        // Then both calls are recorded and charged: 15 tokens each
        #expect(try await store.ledger.events().filter { $0.type == .llmCall }.count == 2)
        let tokens = try await store.transaction { db in try db.value(Int.self, "SELECT sum(tokens) FROM usage_daily") }
        #expect(tokens == 30)
        #expect(try await store.ledger.verify().ok)
    }

    @Test func aCancelledRunAnswersItsOpenCallSoTheNextMessageIsValid() async throws {
        let fixture = try await SlowToolFixture(replies: [.toolCall("slow", "{}"), .assistant("Still here.")])
        let store = fixture.store
        // Given a run waiting on a slow tool
        let run = Task {
            try await fixture.agent.run("go slow", session: fixture.session.id, actor: .user("test")) { _ in }
        }
        try await TestRuns.waitUntil {
            try await store.ledger.events(limit: 1000).contains { $0.type == .toolCallRequested }
        }
        // When the run is cancelled
        run.cancel()
        await #expect(throws: CancellationError.self) { try await run.value }
        // Then the call has an outcome in the transcript and the ledger
        let transcript = try await store.sessions.messages(of: fixture.session.id).map(\.message)
        #expect(SlowToolFixture.everyCallIsAnswered(transcript))
        #expect(transcript.last?.content.first.map { "\($0)" }?.contains("cancelled") == true)
        let interrupted = try await store.ledger.events(limit: 1000).filter { $0.type == .toolCallInterrupted }
        #expect(interrupted.count == 1)
        #expect(interrupted.first?.payload["reason"]?.stringValue == "cancelled")
        // And the next message reaches the model with a result for every call
        let answer = try await fixture.agent.run("are you there?", session: fixture.session.id, actor: .user("test")) {
            _ in
        }
        #expect(answer.message.text == "Still here.")
        let next = try #require(fixture.provider.requests.last)
        #expect(SlowToolFixture.everyCallIsAnswered(next.messages))
        #expect(SlowToolFixture.openAIBodyAnswersEveryCall(next))
    }

    @Test func aRunOutOfTimeAnswersItsOpenCallBeforeItEnds() async throws {
        // The limit runs on the test's clock: the run is out of time when the test says, however loaded the machine
        // (on the wall clock, a limit short enough for a test was once too short for a loaded one). Its checks
        // between steps too: here the model takes 1.5 s of wall time, more than the whole limit, and the run goes on
        // (a loaded CI machine once took longer than the 12 s this test's limit was, and the run ended too soon).
        var settings = OspreyConfig.Agent()
        settings.maxWallSeconds = 1
        let clock = ManualClock()
        // The tool takes an hour on the wall clock: however slow the machine, only the time limit ends the run (with
        // 30 s, a full run of the suite once reached the limit's sleeper after the tool had finished and the run
        // had ended).
        let fixture = try await SlowToolFixture(
            replies: [.toolCall("slow", "{}"), .assistant("Back.")],
            settings: settings,
            clock: clock,
            slowCall: .seconds(3600),
            modelTakes: .milliseconds(1500)
        )
        // Given a run waiting on its slow tool
        let run = Task {
            try await fixture.agent.run("go slow", session: fixture.session.id, actor: .user("test")) { _ in }
        }
        try await TestRuns.waitUntil {
            try await fixture.store.ledger.events(limit: 1000).contains { $0.type == .toolCallRequested }
        }
        // When its second passes
        do {
            try await clock.waitForSleepers(1)
        } catch {
            // Say what became of the run (seen in CI, not understood: no sleeper on the clock after 60 s).
            run.cancel()
            let events = try await fixture.store.ledger.events(limit: 1000).map(\.type.rawValue)
            Issue.record("the run, without its limit's sleeper: \(await run.result); its events: \(events)")
            throw error
        }
        clock.advance(by: .seconds(1))
        // Then it ends with the time limit, the open call answered
        await #expect(throws: AgentError.timeLimit(seconds: 1)) { try await run.value }
        let transcript = try await fixture.store.sessions.messages(of: fixture.session.id).map(\.message)
        #expect(SlowToolFixture.everyCallIsAnswered(transcript))
        let events = try await fixture.store.ledger.events(limit: 1000)
        let requested = events.filter { $0.type == .toolCallRequested }.count
        let outcomes = events.filter { $0.type.rawValue.hasPrefix("tool.call.") && $0.type != .toolCallRequested }
        #expect(requested == 1 && outcomes.map(\.type.rawValue) == ["tool.call.interrupted"])
        #expect(outcomes.first?.payload["reason"]?.stringValue == "time_limit")
        _ = try await fixture.agent.run("again", session: fixture.session.id, actor: .user("test")) { _ in }
        let next = try #require(fixture.provider.requests.last)
        #expect(SlowToolFixture.openAIBodyAnswersEveryCall(next))
    }

    @Test func startUpClosesAnInteractiveRunTheGatewayStopped() async throws {
        let fixture = try await SlowToolFixture(replies: [.assistant("Hello again.")])
        let store = fixture.store
        let session = fixture.session.id
        // Given a session whose run stopped between a stored call and its result (as `kill -9` leaves it)
        try await store.sessions.append(.user("read it"), to: session, actor: .user("test"))
        try await store.sessions.append(
            Message(
                role: .assistant,
                content: [
                    .toolCall(ToolCall(id: ToolCall.ID("c1"), name: "read_file", arguments: #"{"path":"a"}"#)),
                    .toolCall(ToolCall(id: ToolCall.ID("c2"), name: "slow", arguments: "{}")),
                ]
            ),
            to: session,
            actor: .agent("default")
        )
        // and a finished session beside it, which must be left alone
        let finished = try await store.sessions.create(actor: .user("test"))
        try await store.sessions.append(.user("hi"), to: finished.id, actor: .user("test"))
        try await store.sessions.append(.assistant("hello"), to: finished.id, actor: .agent("default"))
        // When the gateway starts
        #expect(try await Agent.closeInterruptedRuns(in: store) == 1)
        // Then each call has an interrupted result and event, and the run is marked interrupted
        let transcript = try await store.sessions.messages(of: session).map(\.message)
        #expect(SlowToolFixture.everyCallIsAnswered(transcript))
        #expect(transcript.last == .assistant(Agent.interruptedRunNote))
        let events = try await store.ledger.events(limit: 1000)
        #expect(events.filter { $0.type == .toolCallInterrupted }.count == 2)
        #expect(events.filter { $0.type == .runInterrupted }.map(\.session) == [session])
        #expect(try await store.sessions.messages(of: finished.id).count == 2)
        // And a second start finds nothing left to close; the session goes on
        #expect(try await Agent.closeInterruptedRuns(in: store) == 0)
        let answer = try await fixture.agent.run("again", session: session, actor: .user("test")) { _ in }
        #expect(answer.message.text == "Hello again.")
        #expect(SlowToolFixture.openAIBodyAnswersEveryCall(try #require(fixture.provider.requests.last)))
    }

    @Test func startUpLeavesTheSessionsOfUnfinishedTasksToTheSupervisor() async throws {
        let store = try Store.inMemory()
        let task = try await store.tasks.submit(Tasks.Draft(title: "t", instructions: "do"), actor: .test)
        try await store.sessions.append(.user("do"), to: task.session, actor: .test)
        #expect(try await Agent.closeInterruptedRuns(in: store) == 0)
        #expect(try await store.sessions.messages(of: task.session).count == 1)
    }
}

/// The drivers' repair of a transcript that holds a call without a result (a session broken before the fix).
struct ToolPairingTests {
    static let call1 = ToolCall(id: ToolCall.ID("c1"), name: "read_file", arguments: #"{"path":"a"}"#)
    static let call2 = ToolCall(id: ToolCall.ID("c2"), name: "run_command", arguments: #"{"command":"ls"}"#)
    static let result1 = ToolResult(callID: ToolCall.ID("c1"), output: "A")

    @Test func aDanglingCallGetsAnErrorResultRightAfterIt() {
        let history: [Message] = [
            .user("read and list"),
            Message(role: .assistant, content: [.toolCall(Self.call1), .toolCall(Self.call2)]),
            Message(role: .tool, content: [.toolResult(Self.result1)]),
            .user("hello?"),
            Message(role: .assistant, content: [.toolCall(Self.call1)]),
        ]
        let repaired = history.pairingToolCalls()
        let unanswered = ToolResult(callID: Self.call2.id, output: [Message].unansweredCallOutput, isError: true)
        let interrupted = ToolResult(callID: Self.call1.id, output: [Message].unansweredCallOutput, isError: true)
        #expect(
            repaired == [
                history[0], history[1],
                Message(role: .tool, content: [.toolResult(Self.result1), .toolResult(unanswered)]),
                history[3], history[4], Message(role: .tool, content: [.toolResult(interrupted)]),
            ]
        )
        // The wire forms answer every call.
        #expect(SlowToolFixture.openAIBodyAnswersEveryCall(ModelRequest(model: "m", messages: history)))
        let anthropic = AnthropicProvider.body(for: ModelRequest(model: "m", messages: history))["messages"]?.arrayValue
        let uses = (anthropic ?? []).flatMap { $0["content"]?.arrayValue ?? [] }
        let toolUses = uses.filter { $0["type"]?.stringValue == "tool_use" }.count
        let toolResults = uses.filter { $0["type"]?.stringValue == "tool_result" }.count
        #expect(toolUses == 3 && toolResults == 3)
    }

    @Test func aResultThatAnswersNoCallIsDroppedAndAValidTranscriptIsUnchanged() {
        let valid: [Message] = [
            .user("read"), Message(role: .assistant, content: [.toolCall(Self.call1)]),
            Message(role: .tool, content: [.toolResult(Self.result1)]), .assistant("A"),
        ]
        #expect(valid.pairingToolCalls() == valid)
        let orphan = [.user("x"), Message(role: .tool, content: [.toolResult(Self.result1)]), .assistant("y")]
        #expect(orphan.pairingToolCalls() == [.user("x"), .assistant("y")])
    }
}

struct CancelledApprovalTests {
    @Test func aCancelledRunLeavesNoApprovalPending() async throws {
        let store = try Store.inMemory()
        let desk = ApprovalDesk(approvals: store.approvals, lifetime: .seconds(30))
        let waiting = Task { try await desk.decide(ApprovalSamples.request()) }
        let pending = try await ApprovalSamples.pending(store)
        waiting.cancel()
        _ = await waiting.result
        #expect(try await store.approvals.get(pending.id).status == .expired)
    }
}
