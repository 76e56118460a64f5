import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

/// The seed interview with a scripted interviewer: its questions until the computed ambiguity falls to 0.2, the
/// seed it writes (checked, asked again when invalid), "go", and an interviewer whose ratings cannot be read.
struct InterviewGatewayTests {
    static let seed = #"""
        {"goal": "Write hello.txt containing the word osprey.", "constraints": ["Only hello.txt changes."],
         "acceptance": [{"id": "file", "criterion": "hello.txt names the osprey",
                         "check": {"regex": "osprey", "file": "hello.txt"}}]}
        """#

    @Test func anInterviewAsksUntilTheGoalIsClearThenWritesTheSeed() async throws {
        let provider = ScriptedProvider(messages: [
            .assistant(
                #"{"goal": 0.5, "constraints": 0.5, "success": 0.2, "question": "Which file should it write?"}"#
            ),
            .assistant(
                #"{"goal": 0.9, "constraints": 0.6, "success": 0.5, "question": "How will we know it worked?"}"#
            ),
            .assistant(#"Now it is clear: {"goal": 1, "constraints": 0.9, "success": 0.9}"#),
            // A seed with no acceptance criteria is refused, and the interviewer is asked once more.
            .assistant(#"{"goal": "Write hello.txt."}"#),
            .assistant(Self.seed),
        ])
        let gateway = try await TestGateway(provider: provider)
        try await gateway.app().test(.router) { client in
            let started = try await client.post("/api/seeds/interview", #"{"goal":"greet the osprey"}"#)
            #expect(started.status == .created, "\(started.json)")
            let id = try #require(started.json["id"]?.stringValue)
            #expect(started.json["status"] == "asking")
            #expect(started.json["question"] == "Which file should it write?")
            // 1 − (0.4·0.5 + 0.3·0.5 + 0.3·0.2)
            #expect(started.json["ambiguity"] == .double(0.59))
            let second = try await client.post("/api/seeds/interview/\(id)/answer", #"{"answer":"hello.txt"}"#)
            #expect(second.json["question"] == "How will we know it worked?", "\(second.json)")
            #expect(second.json["ambiguity"] == .double(0.31))
            #expect(second.json["turns"] == 2)
            let done = try await client.post(
                "/api/seeds/interview/\(id)/answer",
                #"{"answer":"it contains the word osprey"}"#
            )
            #expect(done.json["status"] == "seeded", "\(done.json)")
            #expect(done.json["ambiguity"] == .double(0.06))
            #expect(done.json["turns"] == 2)
            let seed = try #require(done.json["seed"]?.stringValue)
            #expect(done.json["document"]?["goal"] == "Write hello.txt containing the word osprey.")
            let stored = try await gateway.store.seeds.get(SeedRecord.ID(seed))
            #expect(stored.document.acceptance.map(\.id) == ["file"])
            // The interviewer was asked again with the reason its first seed was refused.
            #expect(provider.requests.last?.messages.last?.text.contains("acceptance") == true)
            let again = try await client.post("/api/seeds/interview/\(id)/answer", #"{"answer":"more"}"#)
            #expect(again.status == .conflict)
            let shown = try await client.execute(
                uri: "/api/seeds/interview/\(id)",
                method: .get,
                headers: TestGateway.auth()
            ) { $0.json }
            #expect(shown["seed"]?.stringValue == seed)
            // Each question is on the stream as an event; the end too.
            let events = try await gateway.store.ledger.events(limit: 1000)
            let questions = events.filter { $0.type == .seedQuestion }
            #expect(
                questions.map { $0.payload["question"] } == [
                    "Which file should it write?", "How will we know it worked?",
                ]
            )
            #expect(events.contains { $0.type == .seedInterviewed && $0.payload["seed"]?.stringValue == seed })
            // The interviewer ran in the read-only research persona, in its own session.
            let session = try await gateway.store.sessions.get(Session.ID(shown["session"]?.stringValue ?? ""))
            #expect(session.persona == "research")
        }
    }

    @Test func goWritesTheSeedNowAndUnreadableRatingsAreAnError() async throws {
        let provider = ScriptedProvider(messages: [
            .assistant("It seems fairly clear to me."),
            .assistant("Yes, fairly clear."),
            .assistant(#"{"goal": 0.2, "constraints": 0, "success": 0, "question": ""}"#),
            .assistant(Self.seed),
        ])
        let gateway = try await TestGateway(provider: provider)
        try await gateway.app().test(.router) { client in
            let unreadable = try await client.post("/api/seeds/interview", #"{"goal":"greet the osprey"}"#)
            #expect(unreadable.status == .badGateway, "\(unreadable.json)")
            #expect(unreadable.json["error"]?["code"] == "interviewer_unreadable")
            let started = try await client.post("/api/seeds/interview", #"{"goal":"greet the osprey"}"#)
            let id = try #require(started.json["id"]?.stringValue)
            #expect(started.json["ambiguity"] == .double(0.92))
            // No question from the interviewer: Osprey asks about the weakest rubric.
            #expect(started.json["question"] == "What must the work not change or use?")
            let empty = try await client.post("/api/seeds/interview/\(id)/answer", #"{}"#)
            #expect(empty.status == .badRequest)
            let done = try await client.post("/api/seeds/interview/\(id)/answer", #"{"go":true}"#)
            #expect(done.json["status"] == "seeded", "\(done.json)")
            #expect(done.json["ambiguity"] == .double(0.92))
            let unknown = try await client.post("/api/seeds/interview/itv_nope/answer", #"{"go":true}"#)
            #expect(unknown.status == .notFound)
        }
    }
}
