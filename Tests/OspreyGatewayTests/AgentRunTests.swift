import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Synchronization
import Testing

/// A model that takes its time: it streams a word, then waits (cancellably) before answering.
struct SlowProvider: ModelProvider {
    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        try await onEvent(.textDelta("Thinking"))
        try await Task.sleep(for: .seconds(30))
        return ModelReply(message: .assistant("too late"), usage: Usage(), stopReason: .endTurn)
    }
}

/// ``SlowProvider`` that counts its calls.
final class CountingSlowProvider: ModelProvider {
    private let count = Mutex(0)
    var calls: Int { count.withLock { $0 } }

    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        count.withLock { $0 += 1 }
        return try await SlowProvider().respond(to: request, onEvent: onEvent)
    }
}

@Suite(.serialized)
struct AgentRunTests {
    /// A message to a session, its answer streamed as server-sent events.
    static func streamedMessage(_ content: String, to session: Session.ID, port: Int) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/sessions/\(session)/messages")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(TestGateway.adminToken)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        request.body = .bytes(ByteBuffer(bytes: JSONValue.object(["content": .string(content)]).canonicalBytes))
        return request
    }

    @Test func aRunCanBeCancelledFromAnotherClientAndASecondSendWaitsItsTurn() async throws {
        let gateway = try await TestGateway(provider: SlowProvider())
        let session = try await gateway.store.sessions.create(actor: .test)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let request = Self.streamedMessage("think hard", to: session.id, port: port)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            var parser = ServerSentEventParser()
            var iterator = response.body.makeAsyncIterator()
            // Given a run that has started streaming
            var events: [ServerSentEvent] = []
            while events.isEmpty, let chunk = try await iterator.next() {
                events += parser.feed(chunk.readableBytesView)
            }
            #expect(events.first?.event == "text_delta")
            // When a second message arrives for the same session, it waits in the session's lane
            var queued = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/sessions/\(session.id)/messages")
            queued.method = .POST
            queued.headers.add(name: "Authorization", value: "Bearer \(TestGateway.adminToken)")
            queued.headers.add(name: "Content-Type", value: "application/json")
            queued.body = .bytes(ByteBuffer(string: #"{"content":"me too"}"#))
            let pending = queued
            // A separate connection: the test client's one connection would queue the cancel behind it.
            async let second = HTTPClient.shared.execute(pending, timeout: .seconds(30))
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await gateway.store.sessions.messages(of: session.id).count == 1)
            // And another client cancels the run
            try await client.execute(
                uri: "/api/sessions/\(session.id)/cancel",
                method: .post,
                headers: TestGateway.auth()
            ) {
                #expect($0.status == .accepted)
            }
            // Then the stream ends with a cancelled error, long before the model's 30 s
            while let chunk = try await iterator.next() { events += parser.feed(chunk.readableBytesView) }
            #expect(events.last?.event == "error")
            #expect(events.last.flatMap { try? JSONValue.parse($0.data) }?["error"]?["code"] == "cancelled")
            // The second message now runs; cancel it too.
            for _ in 0..<200 where try await gateway.store.sessions.messages(of: session.id).count < 2 {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await client.execute(
                uri: "/api/sessions/\(session.id)/cancel",
                method: .post,
                headers: TestGateway.auth()
            ) { #expect($0.status == .accepted) }
            let answer = try await second
            let body = try await answer.body.collect(upTo: 1 << 16)
            #expect(answer.status == .conflict)
            #expect((try? JSONValue.parse(body.readableBytesView))?["error"]?["code"] == "cancelled")
            try await client.execute(
                uri: "/api/sessions/\(session.id)/cancel",
                method: .post,
                headers: TestGateway.auth()
            ) {
                #expect($0.status == .notFound)
            }
        }
        #expect(try await gateway.store.ledger.events(filter: EventFilter(type: "run.cancelled")).count == 2)
        let prompts = try await gateway.store.sessions.messages(of: session.id).map(\.message.text)
        #expect(prompts == ["think hard", "me too"])
        // Both model calls were made and cut: each is on record as cancelled, its prompt's size estimated and charged
        // to the day (before: a cancelled call left no trace)
        let calls = try await gateway.store.ledger.events(filter: EventFilter(type: "llm.call"))
        #expect(calls.map(\.callOutcome) == [.cancelled, .cancelled], "\(calls.map(\.payload))")
        #expect(
            calls.allSatisfy { $0.payload["usage_estimated"] == true && ($0.payload["tokens_in"]?.intValue ?? 0) > 0 }
        )
        #expect(try await gateway.store.spending.today(agent: "default").tokens > 0)
    }

    @Test func deletingASessionStopsItsRun() async throws {
        let provider = CountingSlowProvider()
        let gateway = try await TestGateway(provider: provider)
        let session = try await gateway.store.sessions.create(actor: .test)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            let request = Self.streamedMessage("think hard", to: session.id, port: port)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            var parser = ServerSentEventParser()
            var iterator = response.body.makeAsyncIterator()
            // Given a run that has started streaming (its model waits 30 s before it answers)
            var events: [ServerSentEvent] = []
            while events.isEmpty, let chunk = try await iterator.next() {
                events += parser.feed(chunk.readableBytesView)
            }
            // When another client deletes the session
            try await client.execute(uri: "/api/sessions/\(session.id)", method: .delete, headers: TestGateway.auth()) {
                #expect($0.status == .noContent)
            }
            // Then the run stops at once: its stream ends with an error instead of the model's answer
            while let chunk = try await iterator.next() { events += parser.feed(chunk.readableBytesView) }
            #expect(events.last?.event == "error", "\(events.map(\.event))")
            #expect(!events.contains { $0.data.contains("too late") })
        }
        #expect(provider.calls == 1)
        #expect(try await gateway.store.ledger.events(filter: EventFilter(type: "run.cancelled")).count == 1)
    }

    @Test(.timeLimit(.minutes(2))) func aClientThatHangsUpCancelsItsRun() async throws {
        let gateway = try await TestGateway(provider: SlowProvider())
        let session = try await gateway.store.sessions.create(actor: .test)
        try await gateway.app().test(.live) { client in
            let port = try #require(client.port)
            // Given a run streaming to a client, its model silent for 30 s after its first words
            let reader = Task {
                let own = HTTPClient(eventLoopGroupProvider: .singleton)
                let request = Self.streamedMessage("think", to: session.id, port: port)
                let response = try await own.execute(request, timeout: .seconds(30))
                var parser = ServerSentEventParser()
                for try await chunk in response.body where !parser.feed(chunk.readableBytesView).isEmpty {
                    break
                }
                // When the client goes away mid-run (its connection closed; nothing else is asked of the gateway)
                try await own.shutdown()
            }
            _ = await reader.result
            // Then the run is cancelled at once, well before the model's 30 s and before the stream's 15 s
            // keep-alive would have found the connection gone, and the ledger says how it ended (before: the
            // transcript stopped at the user's message, with only the cut model call after it)
            var ended: [Event] = []
            try await TestRuns.waitUntil(timeout: .seconds(10)) {
                ended = try await gateway.store.ledger.events(filter: EventFilter(type: "run.*", session: session.id))
                    .filter { [.runCancelled, .runFailed, .runInterrupted].contains($0.type) }
                return !ended.isEmpty
            }
            #expect(ended.map(\.type) == [.runCancelled], "\(ended)")
            #expect(ended.first?.payload["reason"] == "caller_gone")
            // And the session is free for the next message
            try await client.execute(
                uri: "/api/sessions/\(session.id)/cancel",
                method: .post,
                headers: TestGateway.auth()
            ) { #expect($0.status == .notFound) }
        }
    }

    @Test func modelsListsProvidersBreakersAndAgentRoutes() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            try await client.execute(uri: "/api/models", method: .get, headers: TestGateway.auth()) { response in
                #expect(response.status == .ok)
                #expect(response.json["agents"]?["default"]?["routes"] == ["scripted/test"])
                #expect(response.json["agents"]?["default"]?["tools"]?.arrayValue?.contains("read_file") == true)
                #expect(response.json["local_model"]?["enabled"] == false)
            }
        }
    }

    @Test func anAgentErrorReachesJSONClientsWithItsStatus() async throws {
        var config = OspreyConfig()
        var agent = OspreyConfig.Agent()
        agent.tools = ["*"]
        agent.model = "scripted/test"
        agent.tokensPerRun = 10
        config.agents["default"] = agent
        let gateway = try await TestGateway(config: config)
        let session = try await gateway.store.sessions.create(actor: .test)
        try await gateway.app().test(.router) { client in
            try await client.execute(
                uri: "/api/sessions/\(session.id)/messages",
                method: .post,
                headers: TestGateway.auth(),
                body: ByteBuffer(string: #"{"content":"hello"}"#)
            ) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.errorCode == "budget_exceeded")
            }
        }
    }
}

/// A model that takes a moment and says which prompt it answered.
struct EchoProvider: ModelProvider {
    func respond(to request: ModelRequest, onEvent: (ModelEvent) async throws -> Void) async throws -> ModelReply {
        try await Task.sleep(for: .milliseconds(400))
        return ModelReply(
            message: .assistant("re: \(request.messages.last?.text ?? "")"),
            usage: Usage(),
            stopReason: .endTurn
        )
    }
}

struct SessionLaneTests {
    @Test func messagesToOneSessionRunOneAtATimeInArrivalOrder() async throws {
        let gateway = try await TestGateway(provider: EchoProvider())
        let session = try await gateway.store.sessions.create(actor: .test)
        try await gateway.app().test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...5 {
                    group.addTask {
                        try await client.execute(
                            uri: "/api/sessions/\(session.id)/messages",
                            method: .post,
                            headers: TestGateway.auth(),
                            body: ByteBuffer(string: #"{"content":"m\#(index)"}"#)
                        ) { #expect($0.status == .ok) }
                    }
                    // Arrival order is the order of the sends; all but the first arrive while a run is in progress.
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await group.waitForAll()
            }
        }
        let transcript = try await gateway.store.sessions.messages(of: session.id).map(\.message.text)
        #expect(transcript == (1...5).flatMap { ["m\($0)", "re: m\($0)"] })
    }
}
