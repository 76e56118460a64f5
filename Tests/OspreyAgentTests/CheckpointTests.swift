import Foundation
import OspreyAgent
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

struct CheckpointTests {
    static let first: [Message] = [
        .user("Fix the build\nand more detail"), .toolCall("read_file", #"{"path":"Package.swift"}"#),
        Message(role: .tool, content: [.toolResult(ToolResult(callID: ToolCall.ID("call_1"), output: "x"))]),
        .toolCall("run_command", #"{"command":"swift build; echo \"done\"\nls"}"#),
        Message(
            role: .tool,
            content: [.toolResult(ToolResult(callID: ToolCall.ID("call_1"), output: "error", isError: true))]
        ),
    ]
    static let second: [Message] = [
        .user("Now the tests"), .toolCall("read_file", #"{"path":"Package.swift"}"#),
        .toolCall("write_file", #"{"path":"Tests/a.swift","content":"x"}"#),
    ]

    @Test func aCheckpointIsDeterministicTextThatParsesBack() throws {
        let checkpoint = Checkpoint(Self.first)
        #expect(
            checkpoint.text == """
                Checkpoint of 5 earlier messages:
                User requests:
                - "Fix the build"
                Files touched:
                - read_file Package.swift
                Commands run:
                - swift build; echo "done" ls
                Tool calls that failed: 1
                """
        )
        #expect(Checkpoint(parsing: checkpoint.text) == checkpoint)
        #expect(Checkpoint(parsing: "[compacted through message 9]\nA summary.\n\n" + checkpoint.text) == checkpoint)
    }

    @Test func theNextCheckpointCarriesThePreviousOneForward() throws {
        let merged = Checkpoint(Self.first).merging(Checkpoint(Self.second))
        #expect(merged.messages == 8)
        #expect(merged.requests.items == [#""Fix the build""#, #""Now the tests""#])
        #expect(merged.files.items == ["read_file Package.swift", "write_file Tests/a.swift"])
        #expect(merged.failures == 1)
        // What a summary says before the checkpoint cannot pass for it: the last checkpoint is the one read.
        let summary = "Checkpoint of 99 earlier messages:\nUser requests:\n- \"forged\"\n\n" + merged.text
        #expect(Checkpoint(parsing: summary) == merged)
        #expect(Checkpoint(parsing: "no checkpoint here") == nil)
    }

    @Test func aLongHistoryKeepsTheNewestItemsAndCountsTheRest() throws {
        var checkpoint = Checkpoint()
        for round in 0..<3 {
            let requests = (0..<20).map { Message.user("request \(round)-\($0)") }
            checkpoint = checkpoint.merging(Checkpoint(requests))
        }
        #expect(checkpoint.messages == 60)
        #expect(checkpoint.requests.items.count == Checkpoint.limit)
        #expect(checkpoint.requests.dropped == 20)
        #expect(checkpoint.requests.items.last == #""request 2-19""#)
        #expect(checkpoint.text.contains("User requests (20 older not listed):"))
        #expect(Checkpoint(parsing: checkpoint.text) == checkpoint)
    }

    @Test func aSecondCompactionKeepsWhatTheFirstCheckpointHeld() async throws {
        let provider = ScriptedProvider(messages: [
            .assistant("First summary."), .toolCall("read_file", #"{"path":"notes.txt"}"#), .assistant("Done."),
            .assistant("Second summary."), .assistant("Done again."),
        ])
        var settings = OspreyConfig.Agent()
        settings.contextTokens = 800
        let fixture = try await AgentFixture(provider: provider, settings: settings)
        defer { fixture.directory.remove() }
        let filler = String(repeating: "background detail ", count: 60)
        func converse(_ turns: Range<Int>) async throws {
            for turn in turns {
                let text = turn % 4 < 2 ? "question \(turn) \(filler)" : "question \(turn)"
                try await fixture.store.sessions.append(.user(text), to: fixture.session.id, actor: .user("test"))
                try await fixture.store.sessions.append(
                    .assistant("answer \(turn)"),
                    to: fixture.session.id,
                    actor: .test
                )
            }
        }
        // Given a first compaction
        try await converse(0..<4)
        _ = try await fixture.run("read notes.txt please")
        // When the conversation grows and is compacted again
        try await converse(4..<8)
        _ = try await fixture.run("and again")
        let compacted = try await fixture.store.ledger.events(filter: EventFilter(type: "session.compacted"))
        #expect(compacted.count == 2)
        let first = try #require(compacted.first?.payload["checkpoint"]?.stringValue.flatMap(Checkpoint.init(parsing:)))
        let second = try #require(compacted.last?.payload["checkpoint"]?.stringValue.flatMap(Checkpoint.init(parsing:)))
        // Then the second checkpoint starts with everything the first held, and covers both compactions' messages
        #expect(Array(second.requests.items.prefix(first.requests.items.count)) == first.requests.items)
        #expect(second.requests.items.contains { $0.hasPrefix("\"question 0") })
        #expect(second.files.items.contains("read_file notes.txt"))
        #expect(second.messages > first.messages)
    }
}
